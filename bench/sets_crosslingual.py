"""Cross-lingual evaluation set (French, Spanish, English) for bench/eval_ranking.py.

Nine users (tenants). User ``i`` saves seven personal facts in one language (``i % 3``: French,
Spanish, English): a pet's name, a job, a home town, a child's age, a head count, a favourite
dish and a goal for the year. Each fact is asked about in all three languages: one
same-language control and two cross-lingual questions, 21 questions per user, 189 in all.

The hard part is the distractors. Every user also holds, for every fact and in every language,
a memory that shares the question's content words in that language but does not answer it
("Le promeneur de chien s'appelle ...", "El objetivo de la reunión del lunes ..."). A question
asked in French about a fact saved in English therefore meets a French memory that matches its
words and an English memory that matches its meaning: the case where the keyword side of hybrid
search pulled a same-language wrong memory to the top.

Each user also holds 60 filler memories (20 per language: "Mi vecino cierra los sábados por la
tarde."), so that there are ~90 memories to rank.

Users 6-8 (one per memory language) are held out: ranking choices are made on users 0-5 and the
held-out figures are reported separately. Generation is deterministic (a seeded RNG picks the
values); nothing is downloaded and no model writes text.
"""

from __future__ import annotations

import random
from typing import Any

LANGS = ("fr", "es", "en")
USERS = 9
HELD_OUT = frozenset({6, 7, 8})

NAMES = ["Bruno", "Luna", "Max", "Nala", "Rocky", "Kira", "Toby", "Maya", "Simba", "Lola", "Oslo", "Pixel"]
CITIES = ["Lyon", "Valparaíso", "Porto", "Bilbao", "Toulouse", "Rosario", "Leeds", "Gante", "Nantes"]
JOBS = [
    {"fr": "infirmière", "es": "enfermera", "en": "nurse"},
    {"fr": "comptable", "es": "contador", "en": "accountant"},
    {"fr": "professeur de lycée", "es": "profesor de secundaria", "en": "high-school teacher"},
    {"fr": "boulanger", "es": "panadero", "en": "baker"},
    {"fr": "électricien", "es": "electricista", "en": "electrician"},
    {"fr": "avocate", "es": "abogada", "en": "lawyer"},
    {"fr": "pompier", "es": "bombero", "en": "firefighter"},
    {"fr": "vétérinaire", "es": "veterinaria", "en": "vet"},
    {"fr": "plombier", "es": "fontanero", "en": "plumber"},
]
DISHES = [
    {"fr": "le poulet rôti", "es": "el pollo asado", "en": "roast chicken"},
    {"fr": "la soupe de poisson", "es": "la sopa de pescado", "en": "fish soup"},
    {"fr": "les lentilles au curry", "es": "las lentejas al curry", "en": "curried lentils"},
    {"fr": "la tarte aux pommes", "es": "la tarta de manzana", "en": "apple pie"},
    {"fr": "les crêpes au fromage", "es": "las crepes de queso", "en": "cheese pancakes"},
    {"fr": "le riz aux crevettes", "es": "el arroz con gambas", "en": "shrimp rice"},
]
GOALS = [
    {"fr": "courir un marathon", "es": "correr un maratón", "en": "run a marathon"},
    {"fr": "apprendre le japonais", "es": "aprender japonés", "en": "learn Japanese"},
    {"fr": "ouvrir ma propre boutique", "es": "abrir mi propia tienda", "en": "open my own shop"},
    {"fr": "acheter un appartement", "es": "comprar un piso", "en": "buy a flat"},
    {"fr": "jouer de la guitare", "es": "tocar la guitarra", "en": "play the guitar"},
]
# Fillers (subject x fact, 20 per language per user) so that a user holds ~90 memories and the
# gold memory competes with more than its distractors.
FILLER_SUBJECTS = {
    "fr": ["Mon voisin", "Notre fournisseur", "Le comptable", "Ma cousine", "Le garage", "Mon collègue"],
    "es": ["Mi vecino", "Nuestro proveedor", "El contador", "Mi prima", "El taller", "Mi colega"],
    "en": ["My neighbour", "Our supplier", "The accountant", "My cousin", "The garage", "My colleague"],
}
FILLER_FACTS = {
    "fr": ["ferme le samedi après-midi", "envoie les factures en PDF", "a déménagé en mars",
           "préfère les appels avant midi", "part en Italie en juin", "demande une remise annuelle",
           "paie à trente jours", "a changé de numéro de téléphone"],
    "es": ["cierra los sábados por la tarde", "envía las facturas en PDF", "se mudó en marzo",
           "prefiere las llamadas antes del mediodía", "viaja a Italia en junio", "pide un descuento anual",
           "paga a treinta días", "cambió de número de teléfono"],
    "en": ["closes on Saturday afternoons", "sends the invoices as PDF", "moved house in March",
           "prefers calls before noon", "is going to Italy in June", "asks for a yearly discount",
           "pays within thirty days", "changed phone number"],
}  # fmt: skip

# kind -> language -> (fact template, question, distractor template). The distractor repeats the
# question's content words (chien/llama/name, métier/trabajo/job, ...) about something else.
KINDS: dict[str, dict[str, tuple[str, str, str]]] = {
    "pet-name": {
        "fr": ("Mon chien s'appelle {name}.", "Comment s'appelle mon chien ?",
               "Le promeneur de chien s'appelle {other}, il vient chercher les chiens le lundi."),
        "es": ("Mi perro se llama {name}.", "¿Cómo se llama mi perro?",
               "El paseador de perros se llama {other} y viene a buscar a los perros los lunes."),
        "en": ("My dog is called {name}.", "What is my dog's name?",
               "The dog walker's name is {other}; he picks up the dogs on Mondays."),
    },
    "job": {
        "fr": ("Je travaille comme {job}.", "Quel est mon métier ?",
               "Mon métier de rêve quand j'étais petit, c'était astronaute."),
        "es": ("Trabajo como {job}.", "¿En qué trabajo?",
               "¿En qué trabajo de verano pensabas? Mi hermano busca trabajo en un bar."),
        "en": ("I work as a {job}.", "What is my job?",
               "My brother's summer job at the cinema ended last week."),
    },
    "home": {
        "fr": ("J'habite à {city} depuis cinq ans.", "Dans quelle ville est-ce que j'habite ?",
               "Ma tante habite dans une ville près de la mer, elle aime la plage."),
        "es": ("Vivo en {city} desde hace cinco años.", "¿En qué ciudad vivo?",
               "Mi tía vive en una ciudad cerca del mar y le encanta la playa."),
        "en": ("I have lived in {city} for five years.", "Which city do I live in?",
               "My aunt lives in a city by the sea and loves the beach."),
    },
    "child-age": {
        "fr": ("Ma fille a {n} ans.", "Quel âge a ma fille ?",
               "Ma fille a peur des chiens depuis qu'elle est petite."),
        "es": ("Mi hija tiene {n} años.", "¿Cuántos años tiene mi hija?",
               "Mi hija tiene miedo a los perros desde pequeña, hace años."),
        "en": ("My daughter is {n} years old.", "How old is my daughter?",
               "My daughter is scared of old dogs, she has been for years."),
    },
    "headcount": {
        "fr": ("Notre entreprise compte {n} employés.", "Combien d'employés a notre entreprise ?",
               "Deux employés de notre entreprise ont demandé à télétravailler le vendredi."),
        "es": ("Nuestra empresa tiene {n} empleados.", "¿Cuántos empleados tiene nuestra empresa?",
               "Dos empleados de nuestra empresa pidieron teletrabajar los viernes."),
        "en": ("Our company has {n} employees.", "How many employees does our company have?",
               "Two employees of our company asked to work from home on Fridays."),
    },
    "dish": {
        "fr": ("Mon plat préféré est {dish}.", "Quel est mon plat préféré ?",
               "Mon film préféré est un vieux western, je le regarde avec un plat de pâtes."),
        "es": ("Mi plato favorito es {dish}.", "¿Cuál es mi plato favorito?",
               "Mi película favorita es un western antiguo; la veo con un plato de pasta."),
        "en": ("My favourite dish is {dish}.", "What is my favourite dish?",
               "My favourite film is an old western; I watch it with a dish of pasta."),
    },
    "goal": {
        "fr": ("Cette année, mon objectif est de {goal}.", "Quel est mon objectif cette année ?",
               "L'objectif de la réunion de cette année était de fixer le budget."),
        "es": ("Este año mi objetivo es {goal}.", "¿Cuál es mi objetivo este año?",
               "El objetivo de la reunión de este año era fijar el presupuesto."),
        "en": ("This year my goal is to {goal}.", "What is my goal this year?",
               "The goal of this year's meeting was to set the budget."),
    },
}  # fmt: skip


def generate(seed: int = 15) -> dict[str, Any]:
    """The set: {"name", "tenants": [{"entity", "items", "questions"}]}.

    Each item is {"slug", "content"}; each question {"question", "gold" (slugs), "category"
    ("same-language" or "cross-lingual"), "pair" ("fr->en" = asked in French, saved in English),
    "split" ("tune" or "held-out")}.
    """
    rng = random.Random(seed)
    tenants = []
    for user in range(USERS):
        lang = LANGS[user % 3]
        values = {
            "name": rng.choice(NAMES),
            "other": rng.choice(NAMES),
            "job": rng.choice(JOBS)[lang],
            "city": CITIES[user],
            "dish": rng.choice(DISHES)[lang],
            "goal": rng.choice(GOALS)[lang],
        }
        while values["other"] == values["name"]:
            values["other"] = rng.choice(NAMES)
        items = []
        questions = []
        for kind, by_lang in KINDS.items():
            number = rng.randrange(3, 17) if kind == "child-age" else rng.randrange(12, 480)
            fact = by_lang[lang][0].format(n=number, **values)
            items.append({"slug": kind, "content": fact})
            for q_lang in LANGS:
                distractor = by_lang[q_lang][2].format(**values)
                items.append({"slug": f"{kind}-other-{q_lang}", "content": distractor})
                questions.append(
                    {
                        "question": by_lang[q_lang][1],
                        "gold": [kind],
                        "category": "same-language" if q_lang == lang else "cross-lingual",
                        "pair": f"{q_lang}->{lang}",
                        "split": "held-out" if user in HELD_OUT else "tune",
                    }
                )
        for f_lang in LANGS:
            pairs = [(a, b) for a in FILLER_SUBJECTS[f_lang] for b in FILLER_FACTS[f_lang]]
            for j, (subject, fact) in enumerate(rng.sample(pairs, 20)):
                items.append({"slug": f"note-{f_lang}-{chr(97 + j)}", "content": f"{subject} {fact}."})
        tenants.append({"entity": f"xl-user-{user}-{lang}", "items": items, "questions": questions})
    return {"name": "cross-lingual", "tenants": tenants}


if __name__ == "__main__":
    data = generate()
    n = sum(len(t["questions"]) for t in data["tenants"])
    m = sum(len(t["items"]) for t in data["tenants"])
    print(f"{len(data['tenants'])} tenants, {m} memories, {n} questions")
    for item in data["tenants"][0]["items"][:8]:
        print(" ", item["slug"], "|", item["content"])
