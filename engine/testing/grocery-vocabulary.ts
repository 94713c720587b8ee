/**
 * The words demo SKU names are made of. Each category holds product lines: the brands that
 * make that kind of product in each market, and the products with their usual pack sizes. A
 * name is brand + product + size from one line ('Amul Toned Milk 500 ml', 'Horizon Organic
 * Whole Milk 1 gal'), so a brand never appears on a product it does not make.
 *
 * Invariants: every line has brands in both markets and at least one product for each market;
 * every product has at least one size; `vocabularyFor` returns fresh arrays, the tables here
 * are never mutated.
 */

import type { MarketRegion } from './metros.js';

export const SKU_CATEGORIES = [
  'dairy',
  'bakery',
  'fruits',
  'vegetables',
  'snacks',
  'beverages',
  'household',
  'personal-care',
  'frozen',
  'staples',
  'baby',
  'pet',
] as const;

export type SkuCategory = (typeof SKU_CATEGORIES)[number];

export interface ProductTemplate {
  product: string;
  sizes: readonly string[];
}

/** Brands and products of one line, resolved for one market. */
export interface ProductLine {
  brands: readonly string[];
  products: readonly ProductTemplate[];
}

const IN = 'india';
const US = 'united-states';

/** [product, sizes separated by '|', only in this market (both when absent)]. */
type ProductEntry = readonly [string, string, MarketRegion?];

interface LineTable {
  brands: Readonly<Record<MarketRegion, readonly string[]>>;
  products: readonly ProductEntry[];
}

function line(india: string[], unitedStates: string[], products: ProductEntry[]): LineTable {
  return { brands: { india, 'united-states': unitedStates }, products };
}

const LINES: Readonly<Record<SkuCategory, readonly LineTable[]>> = {
  dairy: [
    line(
      ['Amul', 'Nandini', 'Mother Dairy', 'Akshayakalpa', 'Heritage', 'Milky Mist'],
      ['Horizon Organic', 'Organic Valley', 'Fairlife', 'Stonyfield', 'Clover', 'Lactaid'],
      [
        ['Toned Milk', '500 ml|1 l', IN],
        ['Full Cream Milk', '500 ml|1 l', IN],
        ['Double Toned Milk', '500 ml', IN],
        ['Curd', '200 g|400 g|1 kg', IN],
        ['Masala Buttermilk', '200 ml|500 ml', IN],
        ['Mango Lassi', '200 ml', IN],
        ['Whole Milk', 'half gal|1 gal', US],
        ['2% Reduced Fat Milk', 'half gal|1 gal', US],
        ['Skim Milk', 'half gal', US],
        ['Whole Milk Yogurt', '32 oz', US],
        ['Greek Yogurt', '100 g|400 g'],
        ['Strawberry Yogurt', '100 g|4 x 100 g'],
        ['Fresh Cream', '200 ml|1 l'],
      ],
    ),
    line(
      ['Amul', 'Britannia', 'Go', 'Milky Mist', 'Gowardhan'],
      ['Tillamook', 'Cabot', 'Kerrygold', "Land O'Lakes", 'Philadelphia', 'Sargento'],
      [
        ['Salted Butter', '100 g|500 g'],
        ['Unsalted Butter', '100 g|500 g'],
        ['Cheddar Cheese Slices', '100 g|200 g'],
        ['Mozzarella Cheese', '200 g|500 g'],
        ['Cream Cheese', '180 g'],
        ['Paneer', '200 g|500 g', IN],
        ['Cow Ghee', '500 ml|1 l', IN],
        ['Shredded Mexican Blend', '8 oz', US],
        ['Sharp Cheddar Block', '8 oz|2 lb', US],
      ],
    ),
  ],
  bakery: [
    line(
      ['Britannia', 'Modern', 'English Oven', 'Harvest Gold', 'Bonn'],
      ["Dave's Killer Bread", 'Arnold', 'Pepperidge Farm', "Nature's Own", 'Sara Lee'],
      [
        ['White Bread', '350 g|700 g'],
        ['Whole Wheat Bread', '400 g'],
        ['Multigrain Bread', '400 g'],
        ['Sandwich Bread', '600 g'],
        ['Burger Buns', '4 pcs|6 pcs'],
        ['Brown Bread', '400 g', IN],
        ['Pav', '6 pcs|12 pcs', IN],
        ['Sourdough Loaf', '24 oz', US],
        ['Hot Dog Buns', '8 pcs', US],
      ],
    ),
    line(
      ['Theobroma', 'Daily Bread', 'Britannia', 'Winkies', 'Elite'],
      ["Thomas'", "Entenmann's", 'Little Debbie', 'Hostess', 'Bimbo'],
      [
        ['Croissants', '2 pcs|4 pcs'],
        ['Chocolate Muffins', '2 pcs|6 pcs'],
        ['Fruit Cake', '150 g|300 g'],
        ['Banana Bread', '300 g'],
        ['Rusk', '200 g|400 g', IN],
        ['Everything Bagels', '6 pcs', US],
        ['English Muffins', '6 pcs', US],
        ['Glazed Donuts', '8 pcs', US],
      ],
    ),
  ],
  fruits: [
    line(
      ['Fresho', 'Farm Fresh', 'Kimaye', 'Organic Tattva', 'Pro Nature'],
      ['Fresh Farms', 'Green Valley', 'Dole', 'Del Monte', "Driscoll's", 'Chiquita'],
      [
        ['Banana Robusta', '6 pcs|1 kg', IN],
        ['Shimla Apple', '4 pcs|1 kg', IN],
        ['Alphonso Mango', '1 kg|2 kg', IN],
        ['Nagpur Orange', '1 kg', IN],
        ['Guava', '500 g', IN],
        ['Bananas', '6 pcs|2 lb', US],
        ['Honeycrisp Apples', '3 lb', US],
        ['Navel Oranges', '4 lb', US],
        ['Pomegranate', '3 pcs|1 kg'],
        ['Green Grapes', '500 g'],
        ['Red Grapes', '500 g'],
        ['Papaya', '1 pc'],
        ['Watermelon', '1 pc'],
        ['Pineapple', '1 pc'],
        ['Kiwi', '3 pcs'],
        ['Strawberries', '200 g|1 lb'],
        ['Blueberries', '125 g|6 oz'],
        ['Avocado', '2 pcs|4 pcs'],
      ],
    ),
  ],
  vegetables: [
    line(
      ['Fresho', 'Farm Fresh', 'Organic Tattva', 'Hosachiguru', 'Pro Nature'],
      ['Fresh Farms', 'Green Valley', 'Earthbound Farm', 'Taylor Farms', "Nature's Promise"],
      [
        ['Onion', '1 kg|2 kg', IN],
        ['Tomato', '500 g|1 kg', IN],
        ['Potato', '1 kg|2 kg', IN],
        ['Coriander Leaves', '100 g', IN],
        ['Green Chilli', '100 g', IN],
        ['Ladies Finger', '250 g', IN],
        ['Bottle Gourd', '1 pc', IN],
        ['Curry Leaves', '50 g', IN],
        ['Yellow Onions', '3 lb', US],
        ['Roma Tomatoes', '1 lb', US],
        ['Russet Potatoes', '5 lb', US],
        ['Romaine Hearts', '3 pcs', US],
        ['Carrots', '500 g|2 lb'],
        ['Spinach', '250 g'],
        ['Baby Spinach', '150 g|5 oz'],
        ['Cauliflower', '1 pc'],
        ['Broccoli', '1 pc|12 oz'],
        ['Cucumber', '500 g|2 pcs'],
        ['Bell Peppers', '3 pcs'],
        ['Garlic', '100 g|3 pcs'],
        ['Ginger', '100 g|8 oz'],
      ],
    ),
  ],
  snacks: [
    line(
      ["Lay's", 'Bingo', 'Kurkure', 'Uncle Chipps', 'Pringles'],
      ["Lay's", 'Doritos', 'Cheetos', 'Pringles', 'Kettle Brand', 'Tostitos'],
      [
        ['Classic Salted Chips', '52 g|90 g|8 oz'],
        ['Sour Cream & Onion Chips', '52 g|90 g|8 oz'],
        ['Barbecue Chips', '90 g|8 oz'],
        ['Magic Masala Chips', '52 g|90 g', IN],
        ['Masala Munch', '90 g', IN],
        ['Nacho Cheese Tortilla Chips', '150 g|9 oz', US],
        ['Cheese Puffs', '8 oz', US],
      ],
    ),
    line(
      ["Haldiram's", 'Bikaji', 'Balaji', 'Act II', 'Too Yumm'],
      ['Planters', 'Wonderful', 'Blue Diamond', "Snyder's", 'SkinnyPop', 'Smartfood'],
      [
        ['Aloo Bhujia', '200 g|400 g', IN],
        ['Moong Dal', '200 g', IN],
        ['Khatta Meetha', '200 g|400 g', IN],
        ['Mixed Namkeen', '400 g|1 kg', IN],
        ['Butter Popcorn', '70 g', IN],
        ['Pretzel Pieces', '12 oz', US],
        ['White Cheddar Popcorn', '6 oz', US],
        ['Salted Peanuts', '150 g|16 oz'],
        ['Roasted Almonds', '100 g|6 oz'],
        ['Pistachios', '200 g|8 oz'],
      ],
    ),
    line(
      ['Parle', 'Britannia', 'Sunfeast', 'Unibic', "McVitie's"],
      ['Nabisco', 'Pepperidge Farm', 'Keebler', "Annie's", 'Lotus Biscoff'],
      [
        ['Cream Biscuits', '100 g|300 g', IN],
        ['Glucose Biscuits', '250 g|800 g', IN],
        ['Marie Biscuits', '250 g', IN],
        ['Graham Crackers', '14.4 oz', US],
        ['Cheese Crackers', '180 g|6.6 oz'],
        ['Chocolate Chip Cookies', '150 g|13 oz'],
        ['Butter Cookies', '200 g|12 oz'],
        ['Digestive Biscuits', '250 g'],
      ],
    ),
    line(
      ['Cadbury', 'Amul', 'Nestle', 'Ferrero', 'Lindt'],
      ["Hershey's", 'Lindt', 'Ghirardelli', "Reese's", 'Ferrero'],
      [
        ['Milk Chocolate Bar', '50 g|150 g'],
        ['Dark Chocolate', '55 g|100 g'],
        ['Fruit & Nut Chocolate', '80 g', IN],
        ['Peanut Butter Cups', '6 pcs', US],
        ['Assorted Chocolates', '200 g|8 oz'],
      ],
    ),
  ],
  beverages: [
    line(
      ['Tata Tea', 'Red Label', 'Taj Mahal', 'Wagh Bakri', 'Tetley'],
      ['Lipton', 'Twinings', 'Bigelow', 'Celestial Seasonings', 'Tetley'],
      [
        ['Premium Tea', '250 g|500 g|1 kg', IN],
        ['Masala Chai', '250 g', IN],
        ['Green Tea Bags', '25 pcs|100 pcs'],
        ['English Breakfast Tea Bags', '25 pcs|100 pcs'],
        ['Chamomile Tea Bags', '20 pcs'],
        ['Iced Tea', '500 ml|64 oz', US],
      ],
    ),
    line(
      ['Bru', 'Nescafe', 'Davidoff', 'Blue Tokai', 'Sleepy Owl'],
      ['Folgers', 'Starbucks', "Dunkin'", 'Lavazza', "Peet's"],
      [
        ['Filter Coffee', '200 g|500 g', IN],
        ['Instant Coffee', '50 g|100 g|200 g'],
        ['Ground Coffee', '250 g|12 oz'],
        ['Whole Bean Coffee', '250 g|1 lb'],
        ['Cold Brew Coffee', '250 ml|32 oz'],
      ],
    ),
    line(
      ['Real', 'Paper Boat', 'Tropicana', 'Raw Pressery', 'Maaza', 'Frooti'],
      ['Tropicana', 'Simply', 'Minute Maid', 'Ocean Spray', 'Naked', 'Vita Coco'],
      [
        ['Orange Juice', '200 ml|1 l|52 oz'],
        ['Apple Juice', '200 ml|1 l'],
        ['Mixed Fruit Juice', '1 l'],
        ['Coconut Water', '200 ml|1 l'],
        ['Mango Drink', '200 ml|600 ml|1.2 l', IN],
        ['Aam Panna', '200 ml', IN],
        ['Cranberry Juice Cocktail', '64 oz', US],
        ['Lemonade', '52 oz', US],
      ],
    ),
    line(
      ['Bisleri', 'Kinley', 'Aquafina', 'Himalayan', 'Bailley'],
      ['Poland Spring', 'Smartwater', 'LaCroix', 'Perrier', 'San Pellegrino'],
      [
        ['Mineral Water', '500 ml|1 l|2 l'],
        ['Sparkling Water', '330 ml|750 ml'],
        ['Lime Sparkling Water', '8 x 12 oz', US],
      ],
    ),
    line(
      ['Coca-Cola', 'Thums Up', 'Sprite', 'Pepsi', 'Limca', 'Fanta'],
      ['Coca-Cola', 'Pepsi', 'Canada Dry', 'Sprite', 'Dr Pepper', 'Fanta'],
      [
        ['Cola', '330 ml|750 ml|2 l'],
        ['Lemon Soda', '300 ml|750 ml'],
        ['Ginger Ale', '12 x 12 oz', US],
        ['Zero Sugar Cola', '12 x 12 oz|2 l'],
        ['Jeera Soda', '250 ml', IN],
      ],
    ),
  ],
  household: [
    line(
      ['Surf Excel', 'Ariel', 'Tide', 'Rin', 'Comfort', 'Henko'],
      ['Tide', 'Gain', 'Persil', 'All', 'Downy', 'Seventh Generation'],
      [
        ['Detergent Powder', '500 g|1 kg|4 kg'],
        ['Liquid Detergent', '500 ml|1 l|2 l'],
        ['Fabric Conditioner', '860 ml|2 l'],
        ['Laundry Pods', '16 pcs|42 pcs'],
        ['Detergent Bar', '4 x 150 g', IN],
        ['Stain Remover', '24 oz', US],
      ],
    ),
    line(
      ['Vim', 'Harpic', 'Lizol', 'Colin', 'Pril', 'Domex'],
      ['Dawn', 'Clorox', 'Lysol', 'Mr. Clean', 'Windex', 'Method'],
      [
        ['Dishwash Liquid', '250 ml|750 ml'],
        ['Dishwash Gel', '500 ml', IN],
        ['Dishwasher Pods', '26 pcs', US],
        ['Toilet Cleaner', '500 ml|1 l'],
        ['Floor Cleaner', '500 ml|1 l|2 l'],
        ['Glass Cleaner', '500 ml|23 oz'],
        ['Disinfectant Wipes', '35 pcs|75 pcs'],
        ['Kitchen Cleaner Spray', '450 ml'],
      ],
    ),
    line(
      ['Scotch-Brite', 'Origami', 'Gala', 'Presto', 'Premier', 'Ezee'],
      ['Bounty', 'Charmin', 'Glad', 'Hefty', 'Ziploc', 'Scott'],
      [
        ['Paper Towels', '2 rolls|6 rolls'],
        ['Toilet Tissue', '4 rolls|12 rolls'],
        ['Garbage Bags Medium', '30 pcs'],
        ['Garbage Bags Large', '15 pcs|40 pcs'],
        ['Scrub Pad', '3 pcs'],
        ['Aluminium Foil', '9 m|25 m', IN],
        ['Food Storage Bags', '50 pcs', US],
        ['Kitchen Napkins', '100 pcs'],
      ],
    ),
  ],
  'personal-care': [
    line(
      ['Colgate', 'Pepsodent', 'Sensodyne', 'Closeup', 'Dabur', 'Oral-B'],
      ['Colgate', 'Crest', 'Sensodyne', 'Oral-B', 'Aquafresh', "Tom's of Maine"],
      [
        ['Toothpaste', '100 g|150 g|200 g'],
        ['Whitening Toothpaste', '100 g|4.1 oz'],
        ['Soft Toothbrush', '1 pc|4 pcs'],
        ['Mouthwash', '250 ml|500 ml'],
        ['Red Toothpaste', '200 g', IN],
        ['Dental Floss', '50 m', US],
      ],
    ),
    line(
      ['Dove', 'Pantene', 'Head & Shoulders', 'Clinic Plus', 'Sunsilk', 'Tresemme'],
      ['Dove', 'Pantene', 'Head & Shoulders', 'Herbal Essences', 'Garnier', 'Suave'],
      [
        ['Shampoo', '180 ml|340 ml|650 ml'],
        ['Conditioner', '180 ml|340 ml'],
        ['Anti-Dandruff Shampoo', '180 ml|340 ml'],
        ['Hair Oil', '200 ml|500 ml', IN],
        ['Dry Shampoo', '4.3 oz', US],
      ],
    ),
    line(
      ['Dettol', 'Lifebuoy', 'Pears', 'Nivea', 'Himalaya', 'Santoor'],
      ['Dial', 'Irish Spring', 'Dove', 'Aveeno', 'Cetaphil', 'Neutrogena'],
      [
        ['Bathing Soap', '75 g|3 x 125 g'],
        ['Body Wash', '250 ml|500 ml'],
        ['Hand Wash', '200 ml|750 ml'],
        ['Face Wash', '100 ml|150 ml'],
        ['Body Lotion', '200 ml|400 ml'],
        ['Moisturising Cream', '100 ml'],
        ['Deodorant', '150 ml'],
        ['Neem Face Wash', '150 ml', IN],
        ['Sunscreen SPF 50', '50 g|3 oz'],
      ],
    ),
  ],
  frozen: [
    line(
      ['McCain', 'Sumeru', 'ITC Master Chef', 'Safal', 'Godrej Yummiez', 'Prasuma'],
      ['Birds Eye', "Amy's", "Stouffer's", 'Ore-Ida', 'Tyson', 'DiGiorno'],
      [
        ['French Fries', '420 g|750 g|32 oz'],
        ['Green Peas', '500 g|1 kg'],
        ['Mixed Vegetables', '500 g|1 kg'],
        ['Sweet Corn', '500 g'],
        ['Veg Nuggets', '400 g'],
        ['Chicken Nuggets', '400 g|29 oz'],
        ['Chicken Seekh Kebab', '400 g', IN],
        ['Aloo Tikki', '400 g', IN],
        ['Chicken Momos', '12 pcs', IN],
        ['Pepperoni Pizza', '1 pc', US],
        ['Mac & Cheese Bowl', '9 oz', US],
      ],
    ),
    line(
      ['Amul', "Kwality Wall's", 'Havmor', 'Baskin Robbins', 'NIC', 'Naturals'],
      ["Ben & Jerry's", 'Häagen-Dazs', 'Breyers', 'Talenti', 'Tillamook', 'Halo Top'],
      [
        ['Vanilla Ice Cream', '500 ml|1 l|1 pint'],
        ['Chocolate Ice Cream', '500 ml|1 l|1 pint'],
        ['Butterscotch Ice Cream', '500 ml|1 l'],
        ['Mango Ice Cream', '500 ml', IN],
        ['Kulfi', '4 pcs', IN],
        ['Cookie Dough Ice Cream', '1 pint', US],
        ['Ice Cream Sandwiches', '6 pcs'],
      ],
    ),
  ],
  staples: [
    line(
      ['Aashirvaad', 'Tata Sampann', 'Fortune', 'India Gate', 'Daawat', '24 Mantra'],
      ['Gold Medal', 'King Arthur', 'Goya', 'Mahatma', "Ben's Original", 'Domino'],
      [
        ['Whole Wheat Atta', '1 kg|5 kg|10 kg', IN],
        ['Basmati Rice', '1 kg|5 kg'],
        ['Sona Masoori Rice', '5 kg|10 kg', IN],
        ['Toor Dal', '500 g|1 kg', IN],
        ['Moong Dal', '500 g|1 kg', IN],
        ['Chana Dal', '500 g|1 kg', IN],
        ['Besan', '500 g', IN],
        ['All-Purpose Flour', '1 kg|5 lb'],
        ['Sugar', '1 kg|5 kg|4 lb'],
        ['Iodised Salt', '1 kg', IN],
        ['Black Beans', '15 oz|2 lb', US],
        ['Long Grain White Rice', '2 lb|5 lb', US],
      ],
    ),
    line(
      ['Fortune', 'Saffola', 'Gemini', 'Dhara', 'Figaro', 'Borges'],
      ['Bertolli', 'Colavita', 'Crisco', 'Wesson', 'Pompeian', 'California Olive Ranch'],
      [
        ['Sunflower Oil', '1 l|5 l'],
        ['Extra Virgin Olive Oil', '500 ml|1 l'],
        ['Groundnut Oil', '1 l|5 l', IN],
        ['Mustard Oil', '1 l', IN],
        ['Vegetable Oil', '48 oz', US],
        ['Canola Oil', '48 oz', US],
      ],
    ),
    line(
      ['MTR', 'Everest', 'MDH', 'Catch', 'Eastern', 'Aachi'],
      ['McCormick', 'Simply Organic', 'Badia', 'Barilla', "Rao's", 'Prego'],
      [
        ['Turmeric Powder', '100 g|200 g'],
        ['Red Chilli Powder', '100 g|200 g'],
        ['Garam Masala', '100 g', IN],
        ['Sambar Powder', '100 g|200 g', IN],
        ['Rava Idli Mix', '500 g', IN],
        ['Black Pepper', '50 g|100 g'],
        ['Spaghetti', '500 g|1 lb', US],
        ['Penne Rigate', '1 lb', US],
        ['Marinara Sauce', '24 oz', US],
      ],
    ),
  ],
  baby: [
    line(
      ['Pampers', 'Huggies', 'MamyPoko', 'Himalaya Baby', 'Mamaearth', "Johnson's Baby"],
      ['Pampers', 'Huggies', 'Luvs', 'Honest', 'Aveeno Baby', "Johnson's Baby"],
      [
        ['Diapers Small', '22 pcs|46 pcs'],
        ['Diapers Medium', '20 pcs|42 pcs'],
        ['Diapers Large', '18 pcs|38 pcs'],
        ['Baby Wipes', '72 pcs|3 x 72 pcs'],
        ['Baby Lotion', '100 ml|200 ml'],
        ['Baby Shampoo', '200 ml'],
        ['Diaper Rash Cream', '50 g'],
      ],
    ),
    line(
      ['Cerelac', 'Nestle Nan', 'Lactogen', 'Similac', 'Slurrp Farm'],
      ['Gerber', 'Similac', 'Enfamil', 'Happy Baby', "Earth's Best"],
      [
        ['Wheat Apple Cereal', '300 g', IN],
        ['Rice Cereal', '300 g|8 oz'],
        ['Infant Formula Stage 1', '400 g|12.4 oz'],
        ['Follow-Up Formula Stage 2', '400 g'],
        ['Fruit Puree Pouch', '4 pcs', US],
        ['Teething Wafers', '12 pcs', US],
      ],
    ),
  ],
  pet: [
    line(
      ['Pedigree', 'Drools', 'Royal Canin', 'Purepet', 'Farmina'],
      ['Purina Pro Plan', 'Blue Buffalo', 'Pedigree', "Hill's Science Diet", 'Iams'],
      [
        ['Adult Dog Food', '1.2 kg|3 kg|10 kg'],
        ['Puppy Food', '1.2 kg|3 kg'],
        ['Dog Treats', '100 g|500 g'],
        ['Dental Chews', '7 pcs|28 pcs'],
        ['Wet Dog Food', '70 g|12 x 13 oz'],
      ],
    ),
    line(
      ['Whiskas', 'Me-O', 'Sheba', 'Purepet', 'Royal Canin'],
      ['Fancy Feast', 'Friskies', 'Meow Mix', 'Tidy Cats', 'Sheba'],
      [
        ['Wet Cat Food', '85 g|12 x 85 g'],
        ['Dry Cat Food', '1.2 kg|3 kg'],
        ['Kitten Food', '450 g|1.2 kg'],
        ['Cat Treats', '60 g'],
        ['Clumping Cat Litter', '5 kg|20 lb'],
      ],
    ),
  ],
};

/** US customary pack sizes; shelves in India show metric sizes only. */
const US_CUSTOMARY_SIZE = /\b(oz|lb|gal|pint|qt)$/;

function sizesFor(sizes: string, market: MarketRegion): string[] {
  const all = sizes.split('|');
  return market === US ? all : all.filter((size) => !US_CUSTOMARY_SIZE.test(size));
}

/**
 * The lines of `category` as `market` sees them: its brands, and only the products and pack
 * sizes it sells.
 */
export function vocabularyFor(category: SkuCategory, market: MarketRegion): ProductLine[] {
  return LINES[category].map((table) => ({
    brands: table.brands[market],
    products: table.products
      .filter(([, , only]) => only === undefined || only === market)
      .map(([product, sizes]) => ({ product, sizes: sizesFor(sizes, market) }))
      .filter((template) => template.sizes.length > 0),
  }));
}
