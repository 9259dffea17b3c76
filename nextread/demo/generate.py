"""Generate the bundled demo school: ``python -m nextread.demo.generate [--out DIR]``.

Everything is invented here (titles, authors, descriptions, students) from word lists and a fixed seed,
so the output is byte-identical on every run. Reading behaviour follows simple, believable rules:
students pick books near their level (sometimes a stretch), lean towards two or three favourite
genres, continue series they enjoyed, abandon books far above their level, and rate books that match
their tastes higher.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nextread.levels import level_to_grl, level_to_lexile

DATA_DIR = Path(__file__).parent / "data"
SEED = 20260901
FIRST_DAY = datetime(2025, 9, 2, 8, 0, tzinfo=UTC)
LAST_DAY = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

GENRES: dict[str, dict[str, list[str]]] = {
    "dragons": {
        "heroes": ["Ember", "Scorch", "Pip the Dragon", "Ruby Wing", "Tumble"],
        "things": ["Dragon Egg", "Sky Castle", "Hidden Cave", "Golden Scale", "Stormy Mountain"],
        "blurbs": [
            "a small dragon who is afraid of heights",
            "a dragon egg that hatches at the worst moment",
            "a dragon who would rather bake than breathe fire",
        ],
    },
    "animals": {
        "heroes": ["Hazel the Hedgehog", "Otto Otter", "Biscuit", "Luna the Fox", "Mo the Moose"],
        "things": ["Muddy Pond", "Lost Acorn", "Winter Den", "Big Storm", "Berry Patch"],
        "blurbs": [
            "a hedgehog who wants to make a new friend",
            "a family of otters looking for a new home",
            "a curious puppy who follows a strange smell",
        ],
    },
    "mystery": {
        "heroes": ["Max Mystery", "Detective Dot", "The Clue Crew", "Nora Knox", "Agent Pickle"],
        "things": [
            "Missing Mascot",
            "Secret Staircase",
            "Vanishing Violin",
            "Midnight Museum",
            "Locked Library",
        ],
        "blurbs": [
            "a detective who follows muddy footprints across town",
            "friends who find a coded note inside a library book",
            "a trophy that disappears before the big game",
        ],
    },
    "humor": {
        "heroes": ["Silly Sid", "Captain Underwear", "Gus and the Goofballs", "Wanda Wobble", "Mr. Noodle"],
        "things": [
            "Giant Burp",
            "Worst Field Trip",
            "Talking Sandwich",
            "Upside-Down Day",
            "Bouncy Castle Disaster",
        ],
        "blurbs": [
            "a boy whose homework keeps coming to life",
            "a class pet that causes total chaos",
            "a substitute teacher who might be a penguin",
        ],
    },
    "space": {
        "heroes": ["Rocket Rosa", "Astro Ben", "Comet Kids", "Zara Nova", "Captain Cosmo"],
        "things": ["Lost Comet", "Moon Base", "Red Planet", "Star Map", "Space Station Zero"],
        "blurbs": [
            "a girl who builds a rocket in her backyard",
            "astronauts who find a message on the moon",
            "a robot who wants to visit every planet",
        ],
    },
    "dinosaurs": {
        "heroes": ["Dino Dan", "Tilly T-Rex", "Stomp", "Professor Bones", "Rex and Rory"],
        "things": ["Fossil Hunt", "Volcano Valley", "Dinosaur Egg", "Jurassic Picnic", "Great Stampede"],
        "blurbs": [
            "kids who dig up a dinosaur bone in the school garden",
            "a triceratops who is too shy to roar",
            "a museum where the dinosaurs wake up at night",
        ],
    },
    "sports": {
        "heroes": ["Kick-It Kayla", "Slam Dunk Sam", "The Rovers", "Jada Jumps", "Coach Carter's Kids"],
        "things": ["Big Game", "Final Goal", "Championship Cup", "Rainy Race", "Last Inning"],
        "blurbs": [
            "a soccer team that has never won a game",
            "a girl who practises every morning for the big race",
            "a new kid who joins the basketball team",
        ],
    },
    "fairy tales": {
        "heroes": ["Princess Pea", "The Frog Knight", "Little Wren", "Gretel Green", "The Brave Tailor"],
        "things": ["Glass Slipper", "Enchanted Forest", "Wishing Well", "Giant's Garden", "Magic Beans"],
        "blurbs": [
            "a retelling where the giant is the one who needs help",
            "a princess who rescues the knight",
            "a wishing well that grants wishes backwards",
        ],
    },
    "science": {
        "heroes": ["Ada Atom", "The Lab Rats", "Professor Fizz", "Iggy Inventor", "Rosie Robot"],
        "things": [
            "Amazing Magnet",
            "Exploding Volcano",
            "Secret Formula",
            "Rainbow Experiment",
            "Tiny Machine",
        ],
        "blurbs": [
            "an inventor whose machines never work the first time",
            "a science fair project that gets out of hand",
            "kids who learn how plants drink water",
        ],
    },
    "history": {
        "heroes": ["Time Twins", "Young Explorers", "Captain Cora", "The History Hunters", "Leo in Time"],
        "things": ["Pyramid Puzzle", "Castle Siege", "Pioneer Trail", "Viking Voyage", "Ancient Olympics"],
        "blurbs": [
            "twins who travel back to ancient Egypt",
            "a girl on a wagon trail heading west",
            "kids who visit a medieval castle during a siege",
        ],
    },
    "friendship": {
        "heroes": ["Bea and Bo", "The Treehouse Gang", "Mia and Mateo", "Best Friends Club", "Kit and Kai"],
        "things": ["New Neighbour", "Big Argument", "Friendship Bracelet", "Rainy Sleepover", "Moving Day"],
        "blurbs": [
            "two friends who learn to share their secret fort",
            "a new girl who feels left out at school",
            "best friends who have a big fight and make up",
        ],
    },
    "poetry": {
        "heroes": ["Rhyme Time", "Whispering Words", "Poems for Puddles", "Silly Sonnets", "Giggle Verses"],
        "things": ["Seasons", "Bedtime", "Backyard", "Seaside", "City Streets"],
        "blurbs": [
            "short funny poems about everyday things",
            "poems about rain, snow and sunshine",
            "rhymes to read aloud with a friend",
        ],
    },
}
FORMAT_BY_GRADE = {
    0: "picture book",
    1: "early reader",
    2: "early reader",
    3: "chapter book",
    4: "chapter book",
    5: "middle grade",
}
EXTRA_TAGS = {
    "dragons": ["fantasy"],
    "fairy tales": ["fantasy"],
    "humor": ["funny"],
    "space": ["science"],
    "dinosaurs": ["science"],
    "mystery": ["adventure"],
    "history": ["adventure"],
}
FIRST_NAMES = [
    "Ava",
    "Liam",
    "Noah",
    "Emma",
    "Mia",
    "Lucas",
    "Zoe",
    "Ethan",
    "Aria",
    "Leo",
    "Ivy",
    "Omar",
    "Sofia",
    "Mateo",
    "Chloe",
    "Kai",
    "Nora",
    "Eli",
    "Maya",
    "Owen",
    "Priya",
    "Jonah",
    "Lily",
    "Sam",
    "Hana",
    "Diego",
    "Ruby",
    "Theo",
    "Amara",
    "Finn",
    "Layla",
    "Ravi",
    "Elena",
    "Jack",
    "Yuki",
    "Max",
]
AUTHOR_FIRST = [
    "Ada",
    "Bo",
    "Clara",
    "Desmond",
    "Edie",
    "Felix",
    "Greta",
    "Hugo",
    "Iris",
    "Jasper",
    "Kiki",
    "Lionel",
    "Marisol",
    "Nico",
    "Opal",
    "Percy",
    "Quinn",
    "Rosalind",
    "Silas",
    "Tove",
]
AUTHOR_LAST = [
    "Quill",
    "Stellar",
    "Bramble",
    "Pennywhistle",
    "Larkspur",
    "Moss",
    "Tumbleweed",
    "Fairweather",
    "Hollow",
    "Inkwell",
    "Juniper",
    "Kettle",
    "Marigold",
    "Nettle",
    "Oakes",
    "Puddle",
    "Wren",
]
TEACHERS = ["Ms. Lee", "Mr. Okafor", "Ms. Alvarez", "Mr. Brennan", "Mrs. Nakamura", "Ms. Dubois"]
GRADE_NAMES = ["Kindergarten", "1st Grade", "2nd Grade", "3rd Grade", "4th Grade", "5th Grade"]
STUDENTS_PER_CLASS = 25


@dataclass
class Book:
    id: str
    title: str
    genre: str
    level: float
    quality: float
    series: str | None = None
    position: int | None = None
    record: dict = field(default_factory=dict)


def make_books(rng: random.Random) -> list[Book]:
    books: list[Book] = []
    used_titles: set[str] = set()
    genres = list(GENRES)
    for series_index in range(25):
        genre = genres[series_index % len(genres)]
        hero = GENRES[genre]["heroes"][series_index // len(genres) % 5]
        grade = series_index % 6
        length = rng.randint(3, 6)
        things = rng.sample(GENRES[genre]["things"], k=min(length, 5)) + ["Grand Finale"]
        for position in range(1, length + 1):
            title = f"{hero} #{position}: The {things[position - 1]}"
            used_titles.add(title)
            level = _clip(grade + 0.5 + rng.gauss(0, 0.3) + 0.08 * position)
            books.append(Book("", title, genre, level, rng.gauss(0, 1), hero, position))
    patterns = [
        "{hero} and the {thing}",
        "The {thing}",
        "{hero} Saves the Day",
        "Where Is the {thing}?",
        "A {thing} for {hero}",
        "The Day of the {thing}",
    ]
    while len(books) < 300:
        genre = rng.choice(genres)
        words = GENRES[genre]
        title = rng.choice(patterns).format(
            hero=rng.choice(words["heroes"]), thing=rng.choice(words["things"])
        )
        if title in used_titles:
            continue
        used_titles.add(title)
        books.append(Book("", title, genre, _clip(rng.uniform(0.0, 6.0)), rng.gauss(0, 1)))
    books.sort(key=lambda book: (book.level, book.title))
    for number, book in enumerate(books, start=1):
        book.id = f"bk-{number:04d}"
        book.record = _book_record(book, rng)
    return books


def _clip(level: float) -> float:
    return round(min(max(level, 0.05), 5.95), 2)


def _isbn13(rng: random.Random) -> str:
    digits = [9, 7, 9, 8] + [rng.randint(0, 9) for _ in range(8)]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits + [check]))


def _book_record(book: Book, rng: random.Random) -> dict:
    grade = int(book.level)
    blurb = rng.choice(GENRES[book.genre]["blurbs"])
    fmt = FORMAT_BY_GRADE[grade]
    tags = [book.genre, *EXTRA_TAGS.get(book.genre, []), fmt]
    if book.series:
        tags.append("series")
    return {
        "id": book.id,
        "title": book.title,
        "authors": [f"{rng.choice(AUTHOR_FIRST)} {rng.choice(AUTHOR_LAST)}"],
        "description": f"A {fmt} about {blurb}. "
        + rng.choice(
            [
                "Full of surprises and big laughs.",
                "A story about courage and kindness.",
                "Perfect for reading aloud.",
                "Readers will cheer at the ending.",
                "Great for curious minds.",
            ]
        ),
        "isbn": _isbn13(rng),
        "tags": tags,
        "language": "es" if rng.random() < 0.05 else "en",
        "publication_year": rng.randint(2005, 2026),
        "lexile": level_to_lexile(book.level),
        "guided_reading_level": level_to_grl(book.level)[0],
        "grade_min": max(0, grade - 1),
        "grade_max": min(5, grade + 1),
        "age_min": grade + 4,
        "age_max": grade + 7,
        "series_name": book.series,
        "series_position": book.position,
        "page_count": int(24 + 40 * book.level + rng.randint(0, 30)),
        "staff_pick": rng.random() < 0.05,
        "available_copies": rng.choice([0, 1, 1, 2, 2, 3, 4]),
    }


def make_students(rng: random.Random) -> tuple[list[dict], list[dict]]:
    students, classes = [], []
    genres = list(GENRES)
    for grade in range(6):
        members = []
        for seat in range(STUDENTS_PER_CLASS):
            number = grade * STUDENTS_PER_CLASS + seat + 1
            level = _clip(grade + 0.5 + rng.gauss(0, 0.55))
            favourites = rng.sample(genres, k=rng.choice([2, 2, 3]))
            students.append(
                {
                    "id": f"st-{number:03d}",
                    "display_name": f"{rng.choice(FIRST_NAMES)} {chr(65 + rng.randrange(26))}.",
                    "grade": grade,
                    "lexile": level_to_lexile(level),
                    "guided_reading_level": level_to_grl(level)[0],
                    "interests": " and ".join([", ".join(favourites[:-1]), favourites[-1]]) + " books",
                    "extra": {"favourite_genres": favourites},
                }
            )
            members.append(f"st-{number:03d}")
        teacher = TEACHERS[grade]
        classes.append(
            {
                "id": f"class-{grade}",
                "name": f"{teacher}'s {GRADE_NAMES[grade]}",
                "grade": grade,
                "teacher": teacher,
                "members": members,
            }
        )
    return students, classes


def simulate(rng: random.Random, books: list[Book], students: list[dict]) -> list[dict]:
    events: list[tuple[datetime, dict]] = []
    for student in students:
        events += _reading_year(rng, books, student)
    events.sort(key=lambda pair: (pair[0], pair[1]["user_id"], pair[1]["item_id"], pair[1]["type"]))
    return [
        {**event, "timestamp": moment.isoformat().replace("+00:00", "Z"), "event_id": f"demo-{n:06d}"}
        for n, (moment, event) in enumerate(events, start=1)
    ]


def _reading_year(rng: random.Random, books: list[Book], student: dict) -> list[tuple[datetime, dict]]:
    level = _student_level(student)
    favourites = set(student["extra"]["favourite_genres"])
    by_series = {(b.series, b.position): b for b in books if b.series}
    read: set[str] = set()
    events: list[tuple[datetime, dict]] = []
    moment = FIRST_DAY + timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 6))
    next_in_series: Book | None = None
    while moment < LAST_DAY and len(read) < 40:
        book = (
            next_in_series
            if next_in_series and rng.random() < 0.7
            else _pick(rng, books, level, favourites, read)
        )
        next_in_series = None
        read.add(book.id)
        events += _borrow(rng, student["id"], book, level, favourites, moment)
        enjoyed = any(e["type"] == "finished" for _, e in events[-4:] if e["item_id"] == book.id)
        if enjoyed and book.series:
            following = by_series.get((book.series, (book.position or 0) + 1))
            next_in_series = following if following and following.id not in read else None
        moment += timedelta(days=rng.randint(16, 36) if moment.month not in (7, 8) else rng.randint(30, 50))
    return events


def _student_level(student: dict) -> float:
    from nextread.levels import level_from

    return level_from(lexile=student["lexile"]) or student["grade"] + 0.5


def _pick(rng: random.Random, books: list[Book], level: float, favourites: set[str], read: set[str]) -> Book:
    weights = []
    for book in books:
        if book.id in read:
            weights.append(0.0)
            continue
        fit = 2.718 ** (-((book.level - level - 0.2) ** 2) / (2 * 0.6**2))
        taste = 4.0 if book.genre in favourites else 1.0
        mid_series = 0.3 if book.position and book.position > 1 else 1.0  # most readers start at book 1
        weights.append(fit * taste * mid_series * (1.6**book.quality))
    return rng.choices(books, weights=weights, k=1)[0]


def _borrow(
    rng: random.Random, user_id: str, book: Book, level: float, favourites: set[str], moment: datetime
) -> list[tuple[datetime, dict]]:
    def event(kind: str, when: datetime, value: float | None = None) -> tuple[datetime, dict]:
        record = {"user_id": user_id, "item_id": book.id, "type": kind}
        if value is not None:
            record["value"] = value
        return when, record

    returned = moment + timedelta(days=rng.randint(5, 16), hours=rng.randint(0, 5))
    out = [event("checkout", moment)]
    too_hard = book.level - level > 1.0
    if rng.random() < (0.6 if too_hard else 0.08):
        return out + [event("abandoned", returned - timedelta(hours=2)), event("return", returned)]
    out += [event("finished", returned - timedelta(hours=3)), event("return", returned)]
    if rng.random() < 0.65:
        stars = 3.0 + (1.2 if book.genre in favourites else -0.4) + 0.6 * book.quality + rng.gauss(0, 0.7)
        stars = float(min(5, max(1, round(stars))))
        out.append(event("rating", returned + timedelta(minutes=5), stars))
        if stars == 5 and rng.random() < 0.5:
            out.append(event("like", returned + timedelta(minutes=6)))
    return out


def _rating_summary(books: list[Book], events: list[dict]) -> None:
    """Average ratings shown in the catalog come from the simulated ratings, shrunk towards 4.0."""
    totals: dict[str, list[float]] = {}
    for event in events:
        if event["type"] == "rating":
            totals.setdefault(event["item_id"], []).append(event["value"])
    for book in books:
        ratings = totals.get(book.id, [])
        book.record["ratings_count"] = len(ratings)
        book.record["average_rating"] = round((sum(ratings) + 4.0 * 3) / (len(ratings) + 3), 2)


def generate(out: Path) -> dict[str, int]:
    rng = random.Random(SEED)
    books = make_books(rng)
    students, classes = make_students(rng)
    events = simulate(rng, books, students)
    _rating_summary(books, events)
    out.mkdir(parents=True, exist_ok=True)
    files = {"items": [b.record for b in books], "users": students, "groups": classes, "interactions": events}
    for kind, rows in files.items():
        with (out / f"{kind}.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                handle.write(
                    json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False) + "\n"
                )
    return {kind: len(rows) for kind, rows in files.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="Output directory.")
    counts = generate(parser.parse_args().out)
    print(", ".join(f"{n} {kind}" for kind, n in counts.items()))


if __name__ == "__main__":
    main()
