"""Family 4, `office_books`: an office supply, stationery and book shop.

Writing, paper, desk, printing and books: `color` is an ink or cover colour, `size` a
paper format ("a5", "letter") or a book's format ("hardcover"), `material` a paper
ruling or a book's genre, `pack` a count or ream. Ink and toner cartridges fit one
printer model, label tape one label maker model (device/accessory pairs). Brands are
stationers' compounds ("Inkwell Press"), models are numbered series ("Scholar No. 7"),
titles put the maker and series first, then the product, then the specs after commas.
"""

from __future__ import annotations

from relstream.tools.simulator.family import Family
from relstream.tools.simulator.style import (
    BrandStyle,
    ModelStyle,
    QueryStyle,
    ShopStyle,
    TitleStyle,
)
from relstream.tools.simulator.surface import ValueForms
from relstream.tools.simulator.taxonomy import ProductType, Taxonomy
from relstream.tools.simulator.taxonomy import product_type as _t

INKS = ("black ink", "blue ink", "red ink", "assorted ink")
COVERS = ("kraft", "sage", "burgundy", "charcoal", "ivory", "cobalt")
RULING = ("dot grid", "college ruled", "graph", "blank")
BOOK_SIZES = ("hardcover", "paperback", "spiral bound")

TYPES: tuple[ProductType, ...] = (
    # --- Writing
    _t("ballpoint_pens", "Writing > Pens > Ballpoint Pens", ("Ballpoint Pen", "Retractable Pens",
       "Ballpoint Pens"), ("ballpoint pens", "pens"), synonyms=("biros", "click pens"),
       dims={"color": INKS, "size": ("0.5mm", "0.7mm", "1.0mm"), "pack": ("12", "24", "60")},
       family="pens", complements=("notebooks",), price=(4, 25), weight=1.8),
    _t("gel_pens", "Writing > Pens > Gel Pens", ("Gel Pen", "Gel Ink Pens", "Rollerball Gel Pen"),
       ("gel pens",), synonyms=("rollerball pens",), dims={"color": INKS,
       "size": ("0.38mm", "0.5mm", "0.7mm"), "pack": ("10", "24", "36"),
       "feature": ("quick dry", "erasable")}, family="pens", complements=("notebooks",),
       price=(5, 30), weight=1.4),
    _t("pencils", "Writing > Pencils > Wood Pencils", ("Graphite Pencils", "Wood Pencils",
       "Writing Pencils"), ("pencils", "wood pencils"), synonyms=("graphite pencils",),
       dims={"size": ("hb lead", "2b lead", "4h lead"), "pack": ("12", "48", "96"),
             "feature": ("pre sharpened", "latex free eraser")},
       complements=("pencil_sharpeners", "erasers"), price=(3, 20), weight=1.3),
    _t("pencil_sharpeners", "Writing > Pencils > Sharpeners", ("Pencil Sharpener",
       "Electric Sharpener", "Handheld Sharpener"), ("pencil sharpener", "sharpener"),
       dims={"feature": ("battery operated", "dual hole")}, complements=("pencils",),
       price=(3, 40)),
    _t("erasers", "Writing > Pencils > Erasers", ("Eraser", "Vinyl Eraser", "Pencil Top Erasers"),
       ("eraser", "erasers"), synonyms=("rubbers",), dims={"pack": ("3", "10", "24")},
       complements=("pencils",), price=(2, 10)),
    _t("highlighters", "Writing > Markers > Highlighters", ("Highlighter",
       "Chisel Tip Highlighters", "Highlighter Pens"), ("highlighters", "highlighter"),
       synonyms=("text markers",),
       dims={"color": ("fluorescent yellow", "pastel assorted", "neon assorted"),
             "pack": ("4", "6", "12")}, complements=("notebooks",), price=(3, 18)),
    # --- Paper
    _t("notebooks", "Paper > Notebooks > Notebooks", ("Notebook", "Spiral Notebook",
       "Hardcover Journal"), ("notebook", "journal"), synonyms=("composition book", "notepad"),
       dims={"color": COVERS, "size": ("a5", "b5", "letter"), "material": RULING,
             "pack": ("1", "3", "5")}, family="paper_books",
       complements=("ballpoint_pens", "gel_pens"), price=(4, 30), weight=1.8),
    _t("sticky_notes", "Paper > Notes > Sticky Notes", ("Sticky Notes", "Self-Stick Notes",
       "Memo Pads"), ("sticky notes", "post it notes"), synonyms=("memo pads",),
       dims={"color": ("canary", "pastel assorted", "neon assorted"),
             "size": ("3x3 in", "3x5 in"), "pack": ("12", "24")}, price=(4, 20)),
    _t("printer_paper", "Paper > Copy Paper > Printer Paper", ("Copy Paper", "Multipurpose Paper",
       "Printer Paper"), ("printer paper", "copy paper"), synonyms=("a4 paper",),
       dims={"size": ("letter", "legal", "a4"), "pack": ("500", "2500", "5000"),
             "feature": ("92 bright", "recycled")}, complements=("inkjet_printers",),
       price=(7, 60), weight=1.4),
    _t("planners", "Paper > Calendars > Planners", ("Weekly Planner", "Daily Planner",
       "Academic Planner"), ("planner", "weekly planner"), synonyms=("agenda", "diary"),
       dims={"color": COVERS, "size": ("a5", "b5", "letter"), "feature": ("undated", "dated")},
       family="paper_books", price=(8, 40)),
    # --- Desk
    _t("staplers", "Desk > Fastening > Staplers", ("Stapler", "Desktop Stapler",
       "Heavy Duty Stapler"), ("stapler",), dims={"color": ("black", "graphite", "cobalt"),
       "capacity": ("20 sheet", "40 sheet", "100 sheet"), "feature": ("jam free",)},
       complements=("staples",), price=(6, 45)),
    _t("staples", "Desk > Fastening > Staples", ("Standard Staples", "Staple Refills",
       "Chisel Point Staples"), ("staples", "staple refills"), dims={"pack": ("1000", "5000")},
       complements=("staplers",), price=(2, 12)),
    _t("binders", "Desk > Filing > Binders", ("Ring Binder", "D-Ring Binder", "View Binder"),
       ("binder", "ring binder"), synonyms=("folder binder",),
       dims={"color": COVERS, "size": ("1 in rings", "2 in rings", "3 in rings"),
             "pack": ("1", "4", "12")}, complements=("sheet_protectors",), price=(3, 40)),
    _t("sheet_protectors", "Desk > Filing > Sheet Protectors", ("Sheet Protectors",
       "Page Protectors", "Clear Sleeves"), ("sheet protectors", "page protectors"),
       dims={"pack": ("50", "100", "200")}, complements=("binders",), price=(5, 25)),
    _t("desk_organizers", "Desk > Organization > Desk Organizers", ("Desk Organizer",
       "Pen Holder", "Mesh Desk Caddy"), ("desk organizer", "pen holder"),
       synonyms=("desk caddy",), dims={"material": ("mesh metal", "bamboo", "acrylic"),
       "color": ("graphite", "ivory", "sage")}, price=(8, 50)),
    _t("calculators", "Desk > Electronics > Calculators", ("Scientific Calculator",
       "Graphing Calculator", "Desktop Calculator"), ("calculator", "scientific calculator"),
       dims={"feature": ("solar powered", "large display")}, price=(8, 150)),
    # --- Printing
    _t("inkjet_printers", "Printing > Printers > Inkjet Printers", ("Inkjet Printer",
       "All-in-One Printer", "Photo Printer"), ("printer", "inkjet printer"),
       synonyms=("all in one printer",), dims={"color": ("black", "white", "graphite"),
       "feature": ("duplex", "wifi direct", "scanner")},
       complements=("ink_cartridges", "printer_paper"), price=(60, 350), weight=1.2),
    _t("ink_cartridges", "Printing > Ink > Ink Cartridges", ("Ink Cartridge",
       "Ink Cartridge Refill", "Ink Combo Pack"), ("ink cartridge", "printer ink"),
       synonyms=("ink refill",), dims={"color": ("black ink", "tri color", "cyan magenta yellow"),
       "pack": ("1", "2", "4"), "feature": ("high yield",)},
       complements=("inkjet_printers",), accessory_of="inkjet_printers", price=(15, 90),
       weight=1.5),
    _t("label_makers", "Printing > Labeling > Label Makers", ("Label Maker", "Handheld Labeler",
       "Label Printer"), ("label maker", "labeler"), dims={"feature": ("qwerty keyboard",
       "rechargeable")}, complements=("label_tape",), price=(20, 120)),
    _t("label_tape", "Printing > Labeling > Label Tape", ("Label Tape", "Laminated Label Tape",
       "Labeling Tape Refill"), ("label tape", "labeler tape"),
       dims={"color": ("black on white", "black on clear", "white on black"),
             "size": ("1/2 in wide", "3/4 in wide"), "pack": ("1", "2")},
       complements=("label_makers",), accessory_of="label_makers", price=(8, 40)),
    # --- Books
    _t("novels", "Books > Fiction > Novels", ("Novel", "A Novel", "Bestselling Novel"),
       ("novel", "novels"), synonyms=("fiction book",),
       dims={"material": ("mystery", "romance", "science fiction", "historical fiction"),
             "size": BOOK_SIZES, "feature": ("large print", "signed edition")},
       family="books", complements=("bookmarks",), price=(8, 35), weight=1.6),
    _t("cookbooks", "Books > Nonfiction > Cookbooks", ("Cookbook", "Recipe Book",
       "Cooking Book"), ("cookbook", "recipe book"),
       dims={"material": ("baking", "vegetarian", "slow cooker", "grilling"),
             "size": BOOK_SIZES}, family="books", complements=("bookmarks",), price=(12, 45)),
    _t("coloring_books", "Books > Activity > Coloring Books", ("Coloring Book",
       "Adult Coloring Book", "Activity Book"), ("coloring book", "colouring book"),
       dims={"material": ("mandala", "animals", "botanical"), "size": ("paperback",
       "spiral bound")}, family="books", complements=("colored_pencils",), price=(5, 20)),
    _t("colored_pencils", "Writing > Pencils > Colored Pencils", ("Colored Pencils",
       "Artist Pencils", "Coloring Pencil Set"), ("colored pencils", "colouring pencils"),
       dims={"pack": ("24", "48", "72"), "feature": ("oil based", "watercolor")},
       complements=("coloring_books",), price=(6, 45)),
    _t("bookmarks", "Books > Accessories > Bookmarks", ("Bookmark", "Page Marker",
       "Book Marker"), ("bookmark", "bookmarks"), dims={"pack": ("1", "6", "20"),
       "material": ("magnetic", "tasseled", "brass")}, complements=("novels", "cookbooks"),
       price=(2, 15)),
)

TAXONOMY = Taxonomy(TYPES, names_its_complement=frozenset({
    "staples", "sheet_protectors", "ink_cartridges", "label_tape", "bookmarks", "erasers"}))

STYLE = ShopStyle(
    brands=BrandStyle(
        heads=("Ink", "Quill", "Ledger", "Folio", "Script", "Scribe", "Page", "Letter", "Margin",
               "Parchment", "Vellum", "Nib", "Slate", "Chapter", "Verso", "Recto", "Glyph",
               "Stanza", "Cipher", "Rubric", "Tome", "Octav", "Papyr", "Memo", "Archiv"),
        tails=("well", "wright", "mark", "craft", "worth", "ton", "field", "leaf", "stone",
               "sby", "ford", "ley", "house", "row", "gate", "wick", "more", "ham"),
        extras=("", " & Sons", " Press", " Office", " Paperworks", " Stationers")),
    models=ModelStyle(
        lines=("Scholar", "Draft", "Sonnet", "Verse", "Cursive", "Serif", "Quarto", "Atelier",
               "Studio", "Lecture", "Thesis", "Dispatch", "Almanac", "Epistle", "Codex", "Primer"),
        suffixes=("", "", "", "Deluxe", "Compact", "Classic"),
        template="{line} No. {gen} {suffix}"),
    titles=TitleStyle(
        separators=(", ", "; ", " :: "),
        marketing=("Office Essentials", "Teacher Approved", "Back to School", "Bulk Office Pack",
                   "Archival Quality", "Acid Free", "Bestseller", "Award Winning"),
        compat_forms=("for {d}", "compatible with {d}", "works with {d}"),
        layout="brand_first", goes_with="for", marketing_rate=0.35, brand_rate=0.8),
    queries=QueryStyle(variant_cuts=(0.12, 0.17, 0.3), post_rate=0.5,
                       compat_words=("for",), lead_words=("cheap", "best"), lead_rate=0.03),
    forms=ValueForms(
        colors={"black ink": ("black ink", "black"), "blue ink": ("blue ink", "blue"),
                "canary": ("canary", "canary yellow"), "kraft": ("kraft", "brown kraft")},
        materials={"college ruled": ("college ruled", "lined"), "dot grid": ("dot grid",
                   "dotted"), "science fiction": ("science fiction", "sci-fi")},
        features={"pre sharpened": ("pre sharpened", "pre-sharpened"),
                  "high yield": ("high yield", "xl"), "large print": ("large print",
                  "large type")},
        pack_title=("{v}/Pack", "Box of {v}", "{v} Count", "{v} Ct"),
        pack_query=("{v} pack", "box of {v}", "{v} count")),
)

OFFICE_BOOKS = Family(4, "office_books", "Office, books & stationery: writing, paper, desk, "
                      "printing, books", TAXONOMY, STYLE,
                      launch_types=("gel_pens", "notebooks", "planners", "ink_cartridges",
                                    "novels"))
