"""Paraphrase evaluation set for bench/eval_ranking.py: questions that share few words with
their memory, next to memories that share the question's words but do not answer it.

Eight users (tenants) each save the same 24 kinds of fact with their own values ("I cycle
about 12 km to the office" / "How do I get to work?"), so 192 questions. Each question is worded
away from its memory (few or no shared content words after stemming) and each user also holds a
lexical distractor per fact, written with the question's own words ("I need new boots to get
to work in winter"). Keyword search alone should mostly fail here; vector search should mostly
succeed; fusion should not let the distractors win.

Each user also holds 60 filler memories from bench/synthetic.py ("My landlord likes green tea
(note 123)."), so that ~110 memories compete.

Held out: the last six kinds of fact (48 questions, never looked at while choosing the ranking),
so the held-out questions are worded differently from every tuning question. Deterministic
(seeded values), offline, no model writes text.
"""

from __future__ import annotations

import random
from typing import Any

from bench.synthetic import synthetic_texts

USERS = 8
HELD_OUT_FROM = 18  # kinds with this index or more are held out

# (slug, memory template, question, lexical distractor). Values: {a} from the kind's list.
KINDS: list[tuple[str, str, str, str, list[str]]] = [
    ("allergy", "Eating {a} gives me hives and a swollen throat.", "What am I allergic to?",
     "The allergy clinic called to move my appointment; allergic reactions season starts soon.",
     ["peanuts", "shellfish", "kiwi", "sesame", "strawberries"]),
    ("commute", "I cycle about {a} km to the office each morning.", "How do I get to work?",
     "I need new boots to get to work in winter, the old ones leak.", ["8", "12", "15", "5"]),
    ("pet", "We adopted a {a} from the shelter last spring.", "Which animal lives with us?",
     "The animal documentary we watched said wolves live with their families.",
     ["tabby cat", "rescue greyhound", "pair of rabbits", "parrot"]),
    ("spouse-job", "My wife repairs {a} for a living.", "What does my partner do professionally?",
     "My business partner wants to go professionally into event planning.",
     ["pianos", "watches", "vintage motorbikes", "boats"]),
    ("diet", "I stopped eating meat and fish {a} ago.", "Am I vegetarian?",
     "The vegetarian restaurant near the station closed; vegetarian options are rare here.",
     ["two years", "six months", "a decade"]),
    ("sleep", "I'm usually in bed by {a} and up at six.", "When do I go to sleep?",
     "When we go camping it's hard to sleep because of the noise.", ["ten", "half past nine", "eleven"]),
    ("language", "Besides Spanish, I can hold a conversation in {a}.", "Which other tongues do I speak?",
     "I speak to my other neighbours in the lift; they are friendly.",
     ["German", "Portuguese", "Mandarin", "Italian"]),
    ("car", "I drive a {a} that I bought second-hand.", "What vehicle do I own?",
     "We own the vehicle insurance policy through the bank; it renews in June.",
     ["red hatchback", "grey estate", "small electric van", "blue pickup"]),
    ("birthday", "I was born on the {a}.", "When should you wish me a happy birthday?",
     "Wish my nephew a happy birthday; his party is on Saturday.",
     ["3rd of May", "21st of October", "9th of July"]),
    ("fear", "Tall buildings and balconies make me dizzy and anxious, {a}.", "Am I afraid of heights?",
     "Heights of the new shelves are wrong; I'm afraid they won't fit.",
     ["always have been", "since a fall", "even on ladders"]),
    ("coffee", "I take my espresso {a}, never with milk.", "How do I like my coffee?",
     "The coffee machine at work broke; I like the old one better.", ["with sugar", "black", "with lemon"]),
    ("sport", "On Sundays I swim {a} lengths at the municipal pool.", "What exercise do I do at the weekend?",
     "The weekend exercise class was cancelled because the teacher was ill.", ["40", "60", "30"]),
    ("music", "I've been learning {a} for three years.", "Do I play an instrument?",
     "The band will play an instrument quiz at the pub on Friday.", ["the cello", "the violin", "drums"]),
    ("savings", "Every month I put {a} euros aside for a house deposit.", "How much money do I save?",
     "Save the receipts; the money for the taxi will be refunded.", ["300", "150", "500"]),
    ("holiday", "In August we rent a cottage in {a}.", "Where do we spend the summer vacation?",
     "Summer vacation homework for the kids is a reading list.",
     ["Brittany", "Galicia", "the Lake District"]),
    ("doctor", "Dr. {a} treats my back pain at the clinic on Elm Street.", "Who is my physician?",
     "The physician assistant course starts in January, I might apply.", ["Okafor", "Lindqvist", "Moreau"]),
    ("reading", "Lately I read mostly {a} on the train.", "What kind of books do I enjoy?",
     "Books about kind animals make my son enjoy bedtime.",
     ["crime novels", "biographies", "science fiction"]),
    ("phone", "Text me rather than ring me; {a}.", "How should people contact me?",
     "People contact the office through the form on the website.",
     ["calls stress me out", "I rarely pick up", "voicemail goes unread"]),
    # Held-out kinds (index >= HELD_OUT_FROM).
    ("kids", "Our twins start primary school in {a}.", "How many children do I have, and how old?",
     "Children under twelve have free entry; how old must they be for the museum?",
     ["September", "the autumn", "a year"]),
    ("garden", "I grow {a} and herbs on the balcony.", "Do I have any plants?",
     "The power plants near the river have any number of chimneys.", ["tomatoes", "chillies", "lettuce"]),
    ("bank", "My salary goes into an account at {a}.", "Which bank do I use?",
     "Use the river bank path for the run; the bridge is closed.",
     ["Banco Norte", "Caixa Sul", "First Mutual"]),
    ("medication", "Each morning I take {a} for my blood pressure.", "What pills am I on?",
     "Am I on the rota for Friday? The pills box is in the kitchen.",
     ["amlodipine", "a beta blocker", "lisinopril"]),
    ("volunteer", "Saturday mornings I help out at {a}.", "Do I do any charity work?",
     "The charity shop is closed for work on the roof.",
     ["the food bank", "an animal shelter", "a soup kitchen"]),
    ("home", "Our flat is on the {a} floor, no lift.", "Do I live upstairs?",
     "Upstairs neighbours live with three dogs and a piano.", ["fourth", "fifth", "top"]),
]  # fmt: skip


def generate(seed: int = 16) -> dict[str, Any]:
    """The set, in the same shape as `sets_crosslingual.generate` (category "paraphrase")."""
    rng = random.Random(seed)
    tenants = []
    for user in range(USERS):
        items = []
        questions = []
        for index, (slug, memory, question, distractor, values) in enumerate(KINDS):
            items.append({"slug": slug, "content": memory.format(a=rng.choice(values))})
            items.append({"slug": f"{slug}-other", "content": distractor})
            questions.append(
                {
                    "question": question,
                    "gold": [slug],
                    "category": "paraphrase",
                    "pair": "en->en",
                    "split": "held-out" if index >= HELD_OUT_FROM else "tune",
                }
            )
        fillers = synthetic_texts(60, seed=100 + user)
        items += [
            {"slug": f"note-{chr(97 + j // 26)}{chr(97 + j % 26)}", "content": t}
            for j, t in enumerate(fillers)
        ]
        tenants.append({"entity": f"pp-user-{user}", "items": items, "questions": questions})
    return {"name": "paraphrase", "tenants": tenants}


if __name__ == "__main__":
    data = generate()
    n = sum(len(t["questions"]) for t in data["tenants"])
    print(f"{len(data['tenants'])} tenants, {n} questions")
