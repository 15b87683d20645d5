#!/usr/bin/env python
"""Build the curated text entries of ``zoo_core/registry.json`` from a table of published hyperparameters.

Every number of a generated entry is reproducible from the table below:

* ``params_m``: the model is built with ``transformers.AutoModel.from_config(<ArchConfig>(**hp))`` on
  the meta device (no weights, no memory) and its parameters are counted (the pooler included where
  the architecture has one, tied or shared weights counted once). ``hp`` holds the architecture
  hyperparameters of the repo's published ``config.json`` (layers, hidden size, heads, intermediate
  size, vocabulary, positions, token types...), written here by hand: the Hub is not reachable where
  this catalog was built, so a reviewer should check them against each repo's config.json.
* ``max_seq_len``: ``max_position_embeddings`` (minus the padding offset of RoBERTa-style position
  ids: 514 -> 512), unless the row gives another value and says why.
* ``num_features``: the hidden size (``d_model`` for XLNet).
* licence, languages, pooling: as the model card states them (pooling: what the card or its
  sentence-transformers ``1_Pooling`` config prescribes; "cls" for plain BERT-style encoders).

The entries curated by hand before this script (BERT-base, RoBERTa-base, XLNet-base...) are not in the
table and are never touched. Usage::

    python scripts/build_text_catalog.py            # write/update the table's entries in registry.json
    python scripts/build_text_catalog.py --check    # exit 1 if registry.json differs from the table
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "zoo_core" / "registry.json"

TEXT_TASKS = ["text-classification", "sentiment-analysis", "question-classification", "feature-extraction"]

# Architectures whose position ids start after the padding index (RoBERTa-style): the usable length is
# max_position_embeddings - 2.
POSITION_OFFSET = {"RobertaConfig", "XLMRobertaConfig", "CamembertConfig", "LongformerConfig", "MPNetConfig"}


# -- hyperparameter helpers: every key spelt out, so the table reads like the config.json it copies ----------


def bert(layers=12, hidden=768, heads=12, inter=3072, vocab=30522, pos=512, types=2):
    return "BertConfig", {
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "vocab_size": vocab,
        "max_position_embeddings": pos,
        "type_vocab_size": types,
    }


def roberta(layers=12, hidden=768, heads=12, inter=3072, vocab=50265, pos=514, cls="RobertaConfig"):
    return cls, {
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "vocab_size": vocab,
        "max_position_embeddings": pos,
        "type_vocab_size": 1,
    }


def xlmr(layers=12, hidden=768, heads=12, inter=3072, pos=514):
    return roberta(layers, hidden, heads, inter, vocab=250002, pos=pos, cls="XLMRobertaConfig")


def distilbert(vocab=30522, layers=6, dim=768, heads=12, hidden_dim=3072, pos=512):
    return "DistilBertConfig", {
        "n_layers": layers,
        "dim": dim,
        "n_heads": heads,
        "hidden_dim": hidden_dim,
        "vocab_size": vocab,
        "max_position_embeddings": pos,
    }


def mpnet(layers=12, hidden=768, heads=12, inter=3072, vocab=30527, pos=514):
    return "MPNetConfig", {
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "vocab_size": vocab,
        "max_position_embeddings": pos,
        "relative_attention_num_buckets": 32,
    }


def albert(layers, hidden, heads, inter, embedding=128, vocab=30000):
    return "AlbertConfig", {
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "embedding_size": embedding,
        "vocab_size": vocab,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "num_hidden_groups": 1,
        "inner_group_num": 1,
    }


def electra(layers, hidden, heads, inter, embedding):
    return "ElectraConfig", {
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "embedding_size": embedding,
        "vocab_size": 30522,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
    }


def deberta_v3(layers, hidden, heads, inter, vocab=128100):
    return "DebertaV2Config", {
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "vocab_size": vocab,
        "max_position_embeddings": 512,
        "type_vocab_size": 0,
        "relative_attention": True,
        "max_relative_positions": -1,
        "position_buckets": 256,
        "pos_att_type": ["p2c", "c2p"],
        "norm_rel_ebd": "layer_norm",
        "share_att_key": True,
        "position_biased_input": False,
    }


def xlnet(layers, d_model, heads, d_inner):
    return "XLNetConfig", {
        "n_layer": layers,
        "d_model": d_model,
        "n_head": heads,
        "d_inner": d_inner,
        "vocab_size": 32000,
    }


def modernbert(layers, hidden, heads, inter):
    return "ModernBertConfig", {
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "vocab_size": 50368,
        "max_position_embeddings": 8192,
        "global_attn_every_n_layers": 3,
        "local_attention": 128,
        "attention_bias": False,
        "mlp_bias": False,
        "norm_bias": False,
    }


def longformer():
    return "LongformerConfig", {
        "num_hidden_layers": 12,
        "hidden_size": 768,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "vocab_size": 50265,
        "max_position_embeddings": 4098,
        "type_vocab_size": 1,
        "attention_window": 512,
    }


# -- the table ------------------------------------------------------------------------------------------------

CARD = "as the model card states them (written into the table; not re-read here)"
BERT_CLS = "BERT-style encoder: the [CLS] vector (the card prescribes no sentence pooling)"
ST_MEAN = "mean pooling, as the model card and its sentence-transformers 1_Pooling config prescribe"
ST_LEN = (
    "the sentence-transformers max_seq_length (sentence_bert_config.json) may be shorter: not checked here, "
    "the Hub is unreachable"
)


def row(
    id,
    aliases,
    config,
    *,
    license,
    languages,
    pooling,
    pooling_why,
    description,
    pretraining,
    paper,
    metric=None,
    max_seq_len=None,
    seq_why=None,
):
    cls, hp = config
    return {
        "id": id,
        "aliases": aliases,
        "config_class": cls,
        "hp": hp,
        "license": license,
        "languages": languages,
        "pooling": pooling,
        "pooling_why": pooling_why,
        "description": description,
        "pretraining": pretraining,
        "paper": paper,
        "metric": metric,
        "max_seq_len": max_seq_len,
        "seq_why": seq_why,
    }


BERT_PAPER = "https://arxiv.org/abs/1810.04805"
SBERT_PAPER = "https://arxiv.org/abs/1908.10084"
BOOKS_WIKI = "bookcorpus+wikipedia"
FLAG_README = "BAAI model card / FlagEmbedding README MTEB table"

TABLE: list[dict[str, Any]] = [
    # ---- BERT and its miniatures -------------------------------------------------------------------------
    row(
        "google-bert/bert-large-uncased",
        ["bert-large", "bert-large-uncased"],
        bert(layers=24, hidden=1024, heads=16, inter=4096),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="BERT-large uncased, the 24-layer original MLM encoder.",
        pretraining=BOOKS_WIKI,
        paper=BERT_PAPER,
    ),
    row(
        "google-bert/bert-large-cased",
        ["bert-large-cased"],
        bert(layers=24, hidden=1024, heads=16, inter=4096, vocab=28996),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="BERT-large cased, for inputs where capitalisation matters.",
        pretraining=BOOKS_WIKI,
        paper=BERT_PAPER,
    ),
    row(
        "google-bert/bert-large-uncased-whole-word-masking",
        ["bert-large-wwm"],
        bert(layers=24, hidden=1024, heads=16, inter=4096),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="BERT-large uncased trained with whole-word masking.",
        pretraining=BOOKS_WIKI,
        paper=BERT_PAPER,
    ),
    row(
        "google-bert/bert-base-multilingual-uncased",
        ["mbert-uncased", "bert-base-multilingual-uncased"],
        bert(vocab=105879),
        license="apache-2.0",
        languages=["multilingual"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="Multilingual BERT-base uncased (102 languages, lower-cased, accents stripped).",
        pretraining="wikipedia (102 languages)",
        paper=BERT_PAPER,
    ),
    row(
        "google/bert_uncased_L-2_H-128_A-2",
        ["bert-tiny"],
        bert(layers=2, hidden=128, heads=2, inter=512),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="BERT-Tiny (2 layers, hidden 128), the smallest of Google's 24 BERT miniatures.",
        pretraining=BOOKS_WIKI,
        paper="https://arxiv.org/abs/1908.08962",
    ),
    row(
        "google/bert_uncased_L-4_H-256_A-4",
        ["bert-mini"],
        bert(layers=4, hidden=256, heads=4, inter=1024),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="BERT-Mini (4 layers, hidden 256), one of Google's BERT miniatures.",
        pretraining=BOOKS_WIKI,
        paper="https://arxiv.org/abs/1908.08962",
    ),
    row(
        "google/bert_uncased_L-4_H-512_A-8",
        ["bert-small"],
        bert(layers=4, hidden=512, heads=8, inter=2048),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="BERT-Small (4 layers, hidden 512), one of Google's BERT miniatures.",
        pretraining=BOOKS_WIKI,
        paper="https://arxiv.org/abs/1908.08962",
    ),
    row(
        "google/bert_uncased_L-8_H-512_A-8",
        ["bert-medium"],
        bert(layers=8, hidden=512, heads=8, inter=2048),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="BERT-Medium (8 layers, hidden 512), one of Google's BERT miniatures.",
        pretraining=BOOKS_WIKI,
        paper="https://arxiv.org/abs/1908.08962",
    ),
    row(
        "microsoft/MiniLM-L12-H384-uncased",
        ["minilm-l12-h384"],
        bert(layers=12, hidden=384, heads=12, inter=1536),
        license="mit",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="MiniLM-L12-H384, a 12-layer, 384-wide BERT distilled by deep self-attention distillation.",
        pretraining="distilled from unilm/bert-base on bookcorpus+wikipedia",
        paper="https://arxiv.org/abs/2002.10957",
    ),
    row(
        "emilyalsentzer/Bio_ClinicalBERT",
        ["bio-clinicalbert", "clinicalbert"],
        bert(vocab=28996),
        license="mit",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="Bio+ClinicalBERT: BioBERT further pre-trained on MIMIC-III clinical notes (domain encoder).",
        pretraining="MIMIC-III clinical notes (initialised from BioBERT: PubMed abstracts + PMC)",
        paper="https://arxiv.org/abs/1904.03323",
    ),
    # ---- DistilBERT / DistilRoBERTa ----------------------------------------------------------------------
    row(
        "distilbert/distilbert-base-cased",
        ["distilbert-cased", "distilbert-base-cased"],
        distilbert(vocab=28996),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="DistilBERT-base cased, a 6-layer distillation of bert-base-cased.",
        pretraining="bookcorpus+wikipedia (distilled from bert-base-cased)",
        paper="https://arxiv.org/abs/1910.01108",
    ),
    row(
        "distilbert/distilroberta-base",
        ["distilroberta", "distilroberta-base"],
        roberta(layers=6),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="DistilRoBERTa-base, a 6-layer distillation of roberta-base.",
        pretraining="openwebtext (distilled from roberta-base)",
        paper="https://arxiv.org/abs/1910.01108",
    ),
    # ---- RoBERTa / XLM-R / CamemBERT / Longformer --------------------------------------------------------
    row(
        "FacebookAI/roberta-large",
        ["roberta-large"],
        roberta(layers=24, hidden=1024, heads=16, inter=4096),
        license="mit",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="RoBERTa-large, 24 layers, hidden 1024.",
        pretraining="bookcorpus+wikipedia+cc-news+openwebtext+stories (160GB)",
        paper="https://arxiv.org/abs/1907.11692",
    ),
    row(
        "FacebookAI/xlm-roberta-large",
        ["xlm-roberta-large", "xlmr-large"],
        xlmr(layers=24, hidden=1024, heads=16, inter=4096),
        license="mit",
        languages=["multilingual"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="XLM-RoBERTa-large, a 24-layer RoBERTa encoder trained on CommonCrawl in 100 languages.",
        pretraining="cc-100 (2.5TB filtered CommonCrawl, 100 languages)",
        paper="https://arxiv.org/abs/1911.02116",
    ),
    row(
        "almanach/camembert-base",
        ["camembert-base", "camembert"],
        roberta(vocab=32005, cls="CamembertConfig"),
        license="mit",
        languages=["fr"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="CamemBERT-base, a RoBERTa encoder for French.",
        pretraining="OSCAR French (138GB)",
        paper="https://arxiv.org/abs/1911.03894",
    ),
    row(
        "allenai/longformer-base-4096",
        ["longformer-base", "longformer"],
        longformer(),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS + "; Longformer puts global attention on it",
        description="Longformer-base, RoBERTa with sliding-window attention for documents of up to 4096 tokens.",
        pretraining="continued MLM pre-training of roberta-base on long documents",
        paper="https://arxiv.org/abs/2004.05150",
    ),
    # ---- ALBERT / ELECTRA / DeBERTa-v3 / XLNet / ModernBERT ----------------------------------------------
    row(
        "albert/albert-large-v2",
        ["albert-large", "albert-large-v2"],
        albert(layers=24, hidden=1024, heads=16, inter=4096),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="ALBERT-large v2, 24 shared layers of width 1024.",
        pretraining=BOOKS_WIKI,
        paper="https://arxiv.org/abs/1909.11942",
    ),
    row(
        "albert/albert-xxlarge-v2",
        ["albert-xxlarge", "albert-xxlarge-v2"],
        albert(layers=12, hidden=4096, heads=64, inter=16384),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="ALBERT-xxlarge v2, 12 shared layers of width 4096 (few parameters, much compute).",
        pretraining=BOOKS_WIKI,
        paper="https://arxiv.org/abs/1909.11942",
    ),
    row(
        "google/electra-large-discriminator",
        ["electra-large"],
        electra(layers=24, hidden=1024, heads=16, inter=4096, embedding=1024),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="ELECTRA-large discriminator, a replaced-token-detection encoder.",
        pretraining="english text, replaced-token detection (ELECTRA-Large setting)",
        paper="https://arxiv.org/abs/2003.10555",
    ),
    row(
        "microsoft/deberta-v3-xsmall",
        ["deberta-v3-xsmall"],
        deberta_v3(layers=12, hidden=384, heads=6, inter=1536),
        license="mit",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="DeBERTa-v3-xsmall, 12 layers of width 384 with a 128k vocabulary.",
        pretraining="160GB text (same data as DeBERTa v2), ELECTRA-style replaced-token detection",
        paper="https://arxiv.org/abs/2111.09543",
    ),
    row(
        "microsoft/deberta-v3-large",
        ["deberta-v3-large"],
        deberta_v3(layers=24, hidden=1024, heads=16, inter=4096),
        license="mit",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="DeBERTa-v3-large, 24 layers of width 1024 with a 128k vocabulary.",
        pretraining="160GB text (same data as DeBERTa v2), ELECTRA-style replaced-token detection",
        paper="https://arxiv.org/abs/2111.09543",
    ),
    row(
        "microsoft/mdeberta-v3-base",
        ["mdeberta-v3-base", "mdeberta"],
        deberta_v3(layers=12, hidden=768, heads=12, inter=3072, vocab=251000),
        license="mit",
        languages=["multilingual"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="mDeBERTa-v3-base, the multilingual DeBERTa-v3 with a 250k vocabulary.",
        pretraining="cc-100 (multilingual), ELECTRA-style replaced-token detection",
        paper="https://arxiv.org/abs/2111.09543",
    ),
    row(
        "xlnet/xlnet-large-cased",
        ["xlnet-large"],
        xlnet(layers=24, d_model=1024, heads=16, d_inner=4096),
        license="mit",
        languages=["en"],
        pooling="last",
        pooling_why="XLNet's summary token is the last one (as the seed xlnet-base entry)",
        description="XLNet-large cased, a 24-layer permutation-LM Transformer-XL encoder (summary token is last).",
        pretraining="bookcorpus+wikipedia+giga5+clueweb+common crawl",
        paper="https://arxiv.org/abs/1906.08237",
        max_seq_len=512,
        seq_why="XLNet has relative positions and no hard limit; 512 is the pre-training sequence length "
        "from the XLNet paper",
    ),
    row(
        "answerdotai/ModernBERT-base",
        ["modernbert-base", "modernbert"],
        modernbert(layers=22, hidden=768, heads=12, inter=1152),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="ModernBERT-base, a 22-layer encoder with rotary positions and 8192-token context.",
        pretraining="2T tokens of english text and code",
        paper="https://arxiv.org/abs/2412.13663",
    ),
    row(
        "answerdotai/ModernBERT-large",
        ["modernbert-large"],
        modernbert(layers=28, hidden=1024, heads=16, inter=2624),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why=BERT_CLS,
        description="ModernBERT-large, a 28-layer encoder with rotary positions and 8192-token context.",
        pretraining="2T tokens of english text and code",
        paper="https://arxiv.org/abs/2412.13663",
    ),
    # ---- sentence-transformers ---------------------------------------------------------------------------
    row(
        "sentence-transformers/all-distilroberta-v1",
        ["all-distilroberta-v1"],
        roberta(layers=6),
        license="apache-2.0",
        languages=["en"],
        pooling="mean",
        pooling_why=ST_MEAN,
        description="all-distilroberta-v1, a 6-layer, 768-d sentence embedder.",
        pretraining="1B sentence pairs (contrastive fine-tune of distilroberta-base)",
        paper=SBERT_PAPER,
        seq_why=ST_LEN,
    ),
    row(
        "sentence-transformers/all-roberta-large-v1",
        ["all-roberta-large-v1"],
        roberta(layers=24, hidden=1024, heads=16, inter=4096),
        license="apache-2.0",
        languages=["en"],
        pooling="mean",
        pooling_why=ST_MEAN,
        description="all-roberta-large-v1, a 24-layer, 1024-d sentence embedder.",
        pretraining="1B sentence pairs (contrastive fine-tune of roberta-large)",
        paper=SBERT_PAPER,
        seq_why=ST_LEN,
    ),
    row(
        "sentence-transformers/paraphrase-MiniLM-L3-v2",
        ["paraphrase-minilm-l3", "paraphrase-minilm-l3-v2"],
        bert(layers=3, hidden=384, heads=12, inter=1536),
        license="apache-2.0",
        languages=["en"],
        pooling="mean",
        pooling_why=ST_MEAN,
        description="paraphrase-MiniLM-L3-v2, a very fast 3-layer, 384-d sentence embedder.",
        pretraining="paraphrase sentence pairs (sentence-transformers paraphrase training)",
        paper=SBERT_PAPER,
        seq_why=ST_LEN,
    ),
    row(
        "sentence-transformers/paraphrase-MiniLM-L6-v2",
        ["paraphrase-minilm-l6", "paraphrase-minilm-l6-v2"],
        bert(layers=6, hidden=384, heads=12, inter=1536),
        license="apache-2.0",
        languages=["en"],
        pooling="mean",
        pooling_why=ST_MEAN,
        description="paraphrase-MiniLM-L6-v2, a fast 6-layer, 384-d sentence embedder.",
        pretraining="paraphrase sentence pairs (sentence-transformers paraphrase training)",
        paper=SBERT_PAPER,
        seq_why=ST_LEN,
    ),
    row(
        "sentence-transformers/paraphrase-MiniLM-L12-v2",
        ["paraphrase-minilm-l12", "paraphrase-minilm-l12-v2"],
        bert(layers=12, hidden=384, heads=12, inter=1536),
        license="apache-2.0",
        languages=["en"],
        pooling="mean",
        pooling_why=ST_MEAN,
        description="paraphrase-MiniLM-L12-v2, a 12-layer, 384-d sentence embedder.",
        pretraining="paraphrase sentence pairs (sentence-transformers paraphrase training)",
        paper=SBERT_PAPER,
        seq_why=ST_LEN,
    ),
    row(
        "sentence-transformers/paraphrase-mpnet-base-v2",
        ["paraphrase-mpnet-base-v2"],
        mpnet(),
        license="apache-2.0",
        languages=["en"],
        pooling="mean",
        pooling_why=ST_MEAN,
        description="paraphrase-mpnet-base-v2, a 12-layer, 768-d MPNet sentence embedder.",
        pretraining="paraphrase sentence pairs (sentence-transformers paraphrase training)",
        paper=SBERT_PAPER,
        seq_why=ST_LEN,
    ),
    row(
        "sentence-transformers/paraphrase-multilingual-mpnet-base-v2",
        ["multilingual-mpnet", "paraphrase-multilingual-mpnet-base-v2"],
        xlmr(),
        license="apache-2.0",
        languages=["multilingual"],
        pooling="mean",
        pooling_why=ST_MEAN,
        description="Multilingual paraphrase mpnet: an XLM-R-base student of paraphrase-mpnet-base-v2, 50+ languages.",
        pretraining="parallel data for 50+ languages (multilingual distillation from paraphrase-mpnet-base-v2)",
        paper="https://arxiv.org/abs/2004.09813",
        seq_why=ST_LEN,
    ),
    row(
        "sentence-transformers/LaBSE",
        ["labse"],
        bert(vocab=501153),
        license="apache-2.0",
        languages=["multilingual"],
        pooling="cls",
        pooling_why="the card's sentence-transformers pipeline takes the [CLS] vector (then a Dense+tanh layer and "
        "normalisation, which zoo does not apply: features are the 768-d CLS hidden state)",
        description="LaBSE, a BERT-base dual encoder for language-agnostic sentence embeddings in 109 languages.",
        pretraining="translation pairs and monolingual text, 109 languages",
        paper="https://arxiv.org/abs/2007.01852",
        seq_why=ST_LEN,
    ),
    row(
        "sentence-transformers/distiluse-base-multilingual-cased-v2",
        ["distiluse", "distiluse-base-multilingual-cased-v2"],
        distilbert(vocab=119547),
        license="apache-2.0",
        languages=["multilingual"],
        pooling="mean",
        pooling_why="mean pooling as the card's sentence-transformers pipeline prescribes (its Dense 768->512 layer "
        "is not applied by zoo: features are the 768-d mean of the hidden states)",
        description="distiluse-base-multilingual-cased-v2, a multilingual DistilBERT student of mUSE (50+ languages).",
        pretraining="parallel data for 50+ languages (multilingual knowledge distillation from mUSE)",
        paper="https://arxiv.org/abs/2004.09813",
        seq_why=ST_LEN,
    ),
    # ---- BGE ---------------------------------------------------------------------------------------------
    row(
        "BAAI/bge-base-en-v1.5",
        ["bge-base", "bge-base-en"],
        bert(),
        license="mit",
        languages=["en"],
        pooling="cls",
        pooling_why="the BGE model card prescribes the [CLS] vector (normalised) as the embedding",
        description="BGE-base-en v1.5, a 768-d English retrieval/embedding model using the CLS vector.",
        pretraining="large-scale text pairs, contrastive pre-training + fine-tuning (C-Pack)",
        paper="https://arxiv.org/abs/2309.07597",
        metric={
            "name": "mteb average (56 datasets)",
            "value": 63.55,
            "source": f"{FLAG_README} (bge-base-en-v1.5 Average 63.55)",
        },
    ),
    row(
        "BAAI/bge-large-en-v1.5",
        ["bge-large", "bge-large-en"],
        bert(layers=24, hidden=1024, heads=16, inter=4096),
        license="mit",
        languages=["en"],
        pooling="cls",
        pooling_why="the BGE model card prescribes the [CLS] vector (normalised) as the embedding",
        description="BGE-large-en v1.5, a 1024-d English retrieval/embedding model using the CLS vector.",
        pretraining="large-scale text pairs, contrastive pre-training + fine-tuning (C-Pack)",
        paper="https://arxiv.org/abs/2309.07597",
        metric={
            "name": "mteb average (56 datasets)",
            "value": 64.23,
            "source": f"{FLAG_README} (bge-large-en-v1.5 Average 64.23)",
        },
    ),
    row(
        "BAAI/bge-m3",
        ["bge-m3"],
        xlmr(layers=24, hidden=1024, heads=16, inter=4096, pos=8194),
        license="mit",
        languages=["multilingual"],
        pooling="cls",
        pooling_why="the BGE-M3 model card: the dense embedding is the normalised [CLS] vector",
        description="BGE-M3, an XLM-R-large embedder for 100+ languages and inputs up to 8192 tokens.",
        pretraining="RetroMAE-extended XLM-R, then multilingual contrastive training (M3)",
        paper="https://arxiv.org/abs/2402.03216",
    ),
    # ---- E5 ----------------------------------------------------------------------------------------------
    row(
        "intfloat/e5-base-v2",
        ["e5-base", "e5-base-v2"],
        bert(),
        license="mit",
        languages=["en"],
        pooling="mean",
        pooling_why="average pooling as the E5 model card prescribes (inputs take 'query: '/'passage: ' prefixes)",
        description="E5-base-v2, a 768-d English embedder (inputs take 'query: '/'passage: ' prefixes).",
        pretraining="weakly-supervised contrastive pre-training on CCPairs + supervised fine-tuning",
        paper="https://arxiv.org/abs/2212.03533",
    ),
    row(
        "intfloat/e5-large-v2",
        ["e5-large", "e5-large-v2"],
        bert(layers=24, hidden=1024, heads=16, inter=4096),
        license="mit",
        languages=["en"],
        pooling="mean",
        pooling_why="average pooling as the E5 model card prescribes (inputs take 'query: '/'passage: ' prefixes)",
        description="E5-large-v2, a 1024-d English embedder (inputs take 'query: '/'passage: ' prefixes).",
        pretraining="weakly-supervised contrastive pre-training on CCPairs + supervised fine-tuning",
        paper="https://arxiv.org/abs/2212.03533",
    ),
    row(
        "intfloat/multilingual-e5-small",
        ["multilingual-e5-small", "me5-small"],
        bert(layers=12, hidden=384, heads=12, inter=1536, vocab=250037),
        license="mit",
        languages=["multilingual"],
        pooling="mean",
        pooling_why="average pooling as the E5 model card prescribes (inputs take 'query: '/'passage: ' prefixes)",
        description="multilingual-E5-small, a 384-d embedder for ~100 languages (from Multilingual-MiniLM).",
        pretraining="multilingual weakly-supervised contrastive pre-training + supervised fine-tuning",
        paper="https://arxiv.org/abs/2402.05672",
    ),
    row(
        "intfloat/multilingual-e5-base",
        ["multilingual-e5-base", "me5-base"],
        xlmr(),
        license="mit",
        languages=["multilingual"],
        pooling="mean",
        pooling_why="average pooling as the E5 model card prescribes (inputs take 'query: '/'passage: ' prefixes)",
        description="multilingual-E5-base, a 768-d embedder for ~100 languages (initialised from XLM-R-base).",
        pretraining="multilingual weakly-supervised contrastive pre-training + supervised fine-tuning",
        paper="https://arxiv.org/abs/2402.05672",
    ),
    row(
        "intfloat/multilingual-e5-large",
        ["multilingual-e5-large", "me5-large"],
        xlmr(layers=24, hidden=1024, heads=16, inter=4096),
        license="mit",
        languages=["multilingual"],
        pooling="mean",
        pooling_why="average pooling as the E5 model card prescribes (inputs take 'query: '/'passage: ' prefixes)",
        description="multilingual-E5-large, a 1024-d embedder for ~100 languages (initialised from XLM-R-large).",
        pretraining="multilingual weakly-supervised contrastive pre-training + supervised fine-tuning",
        paper="https://arxiv.org/abs/2402.05672",
    ),
    # ---- GTE (thenlper, plain BERT; the Alibaba-NLP gte-*-v1.5 need custom code and are left out) -------
    row(
        "thenlper/gte-small",
        ["gte-small"],
        bert(layers=12, hidden=384, heads=12, inter=1536),
        license="mit",
        languages=["en"],
        pooling="mean",
        pooling_why="average pooling as the GTE model card's usage code prescribes",
        description="GTE-small, a 384-d English general text embedder.",
        pretraining="multi-stage contrastive learning on web-scale text pairs",
        paper="https://arxiv.org/abs/2308.03281",
    ),
    row(
        "thenlper/gte-base",
        ["gte-base"],
        bert(),
        license="mit",
        languages=["en"],
        pooling="mean",
        pooling_why="average pooling as the GTE model card's usage code prescribes",
        description="GTE-base, a 768-d English general text embedder.",
        pretraining="multi-stage contrastive learning on web-scale text pairs",
        paper="https://arxiv.org/abs/2308.03281",
    ),
    row(
        "thenlper/gte-large",
        ["gte-large"],
        bert(layers=24, hidden=1024, heads=16, inter=4096),
        license="mit",
        languages=["en"],
        pooling="mean",
        pooling_why="average pooling as the GTE model card's usage code prescribes",
        description="GTE-large, a 1024-d English general text embedder.",
        pretraining="multi-stage contrastive learning on web-scale text pairs",
        paper="https://arxiv.org/abs/2308.03281",
    ),
    # ---- other BERT-architecture embedders ---------------------------------------------------------------
    row(
        "mixedbread-ai/mxbai-embed-large-v1",
        ["mxbai-embed-large", "mxbai-large"],
        bert(layers=24, hidden=1024, heads=16, inter=4096),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why="the model card and its 1_Pooling config use the [CLS] vector",
        description="mxbai-embed-large-v1, a BERT-large English embedder (queries take a retrieval prompt).",
        pretraining="contrastive training on large-scale text pairs, AnglE loss",
        paper=None,
    ),
    row(
        "Snowflake/snowflake-arctic-embed-xs",
        ["arctic-embed-xs"],
        bert(layers=6, hidden=384, heads=12, inter=1536),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why="the arctic-embed model card prescribes the [CLS] vector (normalised)",
        description="snowflake-arctic-embed-xs, a 6-layer, 384-d English retrieval embedder.",
        pretraining="contrastive pre-training + fine-tuning for retrieval (from all-MiniLM-L6-v2)",
        paper="https://arxiv.org/abs/2405.05374",
    ),
    row(
        "Snowflake/snowflake-arctic-embed-s",
        ["arctic-embed-s"],
        bert(layers=12, hidden=384, heads=12, inter=1536),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why="the arctic-embed model card prescribes the [CLS] vector (normalised)",
        description="snowflake-arctic-embed-s, a 12-layer, 384-d English retrieval embedder.",
        pretraining="contrastive pre-training + fine-tuning for retrieval (from e5-small-unsupervised)",
        paper="https://arxiv.org/abs/2405.05374",
    ),
    row(
        "Snowflake/snowflake-arctic-embed-m",
        ["arctic-embed-m"],
        bert(),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why="the arctic-embed model card prescribes the [CLS] vector (normalised)",
        description="snowflake-arctic-embed-m, a BERT-base English retrieval embedder.",
        pretraining="contrastive pre-training + fine-tuning for retrieval (from e5-base-unsupervised)",
        paper="https://arxiv.org/abs/2405.05374",
    ),
    row(
        "Snowflake/snowflake-arctic-embed-l",
        ["arctic-embed-l"],
        bert(layers=24, hidden=1024, heads=16, inter=4096),
        license="apache-2.0",
        languages=["en"],
        pooling="cls",
        pooling_why="the arctic-embed model card prescribes the [CLS] vector (normalised)",
        description="snowflake-arctic-embed-l, a BERT-large English retrieval embedder.",
        pretraining="contrastive pre-training + fine-tuning for retrieval (from e5-large-unsupervised)",
        paper="https://arxiv.org/abs/2405.05374",
    ),
]


# -- building -------------------------------------------------------------------------------------------------


def build_config(r: dict[str, Any]):
    """The transformers config of a table row (no download)."""
    import transformers

    return getattr(transformers, r["config_class"])(**r["hp"])


def count_params(r: dict[str, Any]) -> int:
    """Parameters of ``AutoModel.from_config`` for the row, built on the meta device (no memory, no init)."""
    import torch
    from transformers import AutoModel

    config = build_config(r)
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


def max_seq_len(r: dict[str, Any]) -> tuple[int, str]:
    """The entry's max_seq_len and the words that say where it comes from."""
    if r["max_seq_len"] is not None:
        return r["max_seq_len"], f"{r['max_seq_len']}: {r['seq_why']}"
    positions = r["hp"]["max_position_embeddings"]
    if r["config_class"] in POSITION_OFFSET:
        value, how = positions - 2, f"{positions - 2} = max_position_embeddings {positions} - 2 (RoBERTa-style offset)"
    else:
        value, how = positions, f"{positions} = max_position_embeddings of that config"
    extra = f"; {r['seq_why']}" if r["seq_why"] else ""
    return value, how + extra


def _call(r: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in r["hp"].items())
    return f"{r['config_class']}({args})"


def make_entry(r: dict[str, Any], params: int, transformers_version: str) -> dict[str, Any]:
    """The registry.json entry for a table row, given its counted parameters."""
    hp = r["hp"]
    hidden = hp.get("hidden_size") or hp.get("dim") or hp.get("d_model")
    seq, seq_how = max_seq_len(r)
    metric = r["metric"]
    metric_words = (
        f"metric: {metric['source']}" if metric else "metric left null (no published number checked for this entry)"
    )
    source = (
        f"params counted with transformers {transformers_version} AutoModel.from_config({_call(r)}) on the meta "
        "device, from the hyperparameters of the repo's published config.json as written in "
        "scripts/build_text_catalog.py (not fetched here: the Hub is unreachable), incl. pooler where the model "
        f"has one; num_features = hidden size; max_seq_len {seq_how}; pooling {r['pooling']}: "
        f"{r['pooling_why']}; licence and languages {CARD}; {metric_words}"
    )
    return {
        "id": r["id"],
        "aliases": list(r["aliases"]),
        "family": "hf",
        "arch": build_config(r).model_type,
        "modality": "text",
        "tasks": list(TEXT_TASKS),
        "description": r["description"],
        "params_m": round(params / 1e6, 3),
        "num_features": hidden,
        "text": {"max_seq_len": seq, "pooling": r["pooling"], "languages": list(r["languages"])},
        "source_head": None,
        "weights": [{"source": "hub", "repo_id": r["id"], "filename": None, "format": "hf-dir", "sha256": None}],
        "pretraining": r["pretraining"],
        "license": r["license"],
        "paper": r["paper"],
        "metric": metric,
        "status": "stable",
        "source": source,
    }


def merge(data: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """``data`` with the table's entries (replacing any of the same id) right after the last other text model.

    Refuses an id or alias of the table that another model already uses (the catalog would refuse it too).
    """
    ours = {e["id"] for e in entries}
    rest = [m for m in data["models"] if m["id"] not in ours]
    owner = {name.lower(): m["id"] for m in rest for name in (m["id"], *m.get("aliases", []))}
    for entry in entries:
        for name in (entry["id"], *entry["aliases"]):
            if name.lower() in owner:
                raise SystemExit(f"{entry['id']}: '{name}' is already used by {owner[name.lower()]}")
            owner[name.lower()] = entry["id"]
    after = max((i for i, m in enumerate(rest) if m["modality"] == "text"), default=len(rest) - 1)
    return {**data, "models": rest[: after + 1] + list(entries) + rest[after + 1 :]}


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def build_entries() -> list[dict[str, Any]]:
    import transformers

    return [make_entry(r, count_params(r), transformers.__version__) for r in TABLE]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", type=Path, default=REGISTRY, help="the catalog file to update")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the file differs")
    args = parser.parse_args(argv)

    text = args.registry.read_text(encoding="utf-8")
    data = json.loads(text)
    if dump(data) != text:
        # The file is kept as json.dumps(indent=2) writes it; rewriting a hand-formatted file would
        # reformat other people's entries too.
        print(f"{args.registry} is not in json.dumps(indent=2) form; not rewriting it", file=sys.stderr)
        return 2
    entries = build_entries()
    updated = merge(data, entries)
    if args.check:
        differ = [e["id"] for e in entries if e not in data["models"]]
        if differ:
            print(f"{len(differ)} entries differ from the table: {', '.join(differ)}", file=sys.stderr)
            return 1
        print(f"{len(entries)} table entries match {args.registry}")
        return 0
    out = dump(updated)
    if out != text:
        args.registry.write_text(out, encoding="utf-8")
    print(f"{len(entries)} text entries written to {args.registry}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
