"""Stand-in prompt and answer text for simulated calls: unrelated calls must not look alike.

The import path turns ``prompt`` / ``output`` text into a SHA-256 hash and a word-bigram SimHash and
drops the text, so what matters is which texts are *the same*: two independently generated texts
share almost no word bigrams (a few hundred words, 8+ words each) and land about 32 bits apart, the
way real unrelated prompts do. Texts are short (tens of words) whatever the token counts say: the
fingerprints only need the words, and short texts keep the import fast.
"""

from __future__ import annotations

import random

_WORDS = """
account action adapter agent alert analysis api app approach argument array audit backlog balance batch
benchmark billing branch budget buffer bug build cache call campaign case change channel chart check
churn class cleanup client cluster code column comment commit config connection constraint contract
cost coverage customer dashboard data database deadline debug decision default deploy design detail
diff document domain draft email endpoint error estimate event example export feature feedback field
file filter fix flag flow forecast form format function gateway graph handler header help helper hook
idea image import incident index input insight install integration interface invoice issue job key label
latency layer lead limit list load log logic loop map market meeting memo merge message method metric
migration mock model module monitor note number object offer onboarding option order outline output
owner package page parser partner patch payload payment performance permission pipeline plan policy
pool post price process product profile project prompt proposal query queue quota range rate reason
record refactor region release report request research response result retry review risk roadmap
role rollout route rule sales schema scope script search section segment server service session setting
signal slide snippet source spec sprint stack state status step storage story strategy stream style
summary supplier support survey table target task team template test theme thread ticket timeline token
tool topic trace tracker training trend type update upgrade usage user value vendor version view
warning webhook widget window workflow
""".split()

_VERBS = """
add analyse check clarify compare convert debug describe draft explain extract find fix format improve
list map outline plan polish refactor rename review rewrite sketch split suggest summarise test translate
trim update validate
""".split()


def words(rng: random.Random, count: int) -> str:
    """``count`` words picked at random from a few hundred (unrelated texts share almost no bigrams)."""
    return " ".join(rng.choices(_WORDS, k=count))


def prompt_text(rng: random.Random, *, low: int = 8, high: int = 18) -> str:
    """A fresh prompt: an instruction verb and ``low``..``high`` words of context."""
    return f"{rng.choice(_VERBS)} the {words(rng, rng.randint(low, high))}"


def answer_text(rng: random.Random, *, low: int = 10, high: int = 24) -> str:
    """A fresh answer of ``low``..``high`` words."""
    return words(rng, rng.randint(low, high))


def retyped(rng: random.Random, text: str) -> str:
    """The same text sent again with different case and spacing (same normalised text, same hash)."""
    styles = (str.upper, str.lower, str.capitalize, lambda t: "  " + t.replace(" ", "  ") + "\n")
    return rng.choice(styles)(text)
