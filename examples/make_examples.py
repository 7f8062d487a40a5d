#!/usr/bin/python3
"""Builds the example model bundles in examples/: model.onnx, manifest.json and reference.csv (reference.jsonl for
the tensor-input digits model) per model.

Run with Debian's interpreter (it carries scikit-learn 1.2.1, onnx 1.12 and numpy):

    /usr/bin/python3 examples/make_examples.py

There is no skl2onnx here, so the ONNX graphs are written by hand with onnx.helper. The outputs are committed;
tests and local mode never need Python. Everything is seeded, so a rerun reproduces the same files (only
lineage.codeCommit and lineage.trainedAt follow the repository's HEAD commit).

The baseline profile below is the Python twin of lambdas/core/baseline.ts. The two must stay bit-identical:
test/unit/baseline.test.ts recomputes each committed baseline in TypeScript from reference.csv and compares.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import json
import math
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import sklearn

EXAMPLES = Path(__file__).resolve().parent
REPO = EXAMPLES.parent

# ---------------------------------------------------------------------------------------------------------------
# Baseline profile (same algorithm as lambdas/core/baseline.ts; keep them in step)
# ---------------------------------------------------------------------------------------------------------------

DEFAULT_BINS = 10
DEFAULT_TOP_K = 20
OTHER_CATEGORY = "__OTHER__"
# re.ASCII: the TypeScript twin matches these tokens case-insensitively in ASCII only.
MISSING_RE = re.compile(r"(?:|na|nan|null|none)", re.IGNORECASE | re.ASCII)
# [0-9], not \d: Python's \d also matches non-ASCII digits, which JavaScript's Number() rejects.
NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
TRUE_RE = re.compile(r"(?:true|1)", re.IGNORECASE | re.ASCII)
FALSE_RE = re.compile(r"(?:false|0)", re.IGNORECASE | re.ASCII)


class ReferenceDataError(ValueError):
    pass


def clean_cell(cell: str) -> str:
    # Only spaces and tabs: str.strip() and String.prototype.trim() disagree on other whitespace.
    return cell.strip(" \t")


def is_missing(cell: str) -> bool:
    return MISSING_RE.fullmatch(clean_cell(cell)) is not None


def parse_number(cell: str, column: str, row: int) -> float:
    text = clean_cell(cell)
    if NUMBER_RE.fullmatch(text) is None:
        raise ReferenceDataError(f'column "{column}" row {row}: "{cell}" is not a number')
    value = float(text)
    if not math.isfinite(value):
        raise ReferenceDataError(f'column "{column}" row {row}: "{cell}" is not a finite number')
    return value + 0.0  # -0.0 + 0.0 == +0.0: one zero, as in the TypeScript twin


def numeric_bin(edges: list[float], x: float) -> int:
    if x < edges[0]:
        return 0
    if x > edges[-1]:
        return len(edges)
    return min(bisect.bisect_right(edges, x), len(edges) - 1)


def numeric_bins(values: list[float], bins: int) -> dict:
    v = sorted(values)
    n = len(v)
    if n == 0:
        edges = [0.0, 1.0]
    else:
        edges: list[float] = []
        for i in range(bins + 1):
            e = v[(i * (n - 1)) // bins]
            if not edges or e != edges[-1]:
                edges.append(e)
        if len(edges) == 1:
            x = edges[0]
            edges = [x, x + max(abs(x), 1.0) * 1e-6]
    counts = [0] * (len(edges) + 1)
    for x in values:
        counts[numeric_bin(edges, x)] += 1
    return {"kind": "numeric", "edges": edges, "counts": counts}


def compute_baseline(
    features: list[dict], rows: list[dict[str, str]], bins: int = DEFAULT_BINS, top_k: int = DEFAULT_TOP_K
) -> dict:
    if not rows:
        raise ReferenceDataError("the reference data has no rows")
    out: dict[str, dict] = {}
    for feature in features:
        name = feature["name"]
        missing = 0
        present: list[tuple[int, str]] = []
        for i, row in enumerate(rows):
            if name not in row:
                raise ReferenceDataError(f'row {i + 1} has no column "{name}"')
            cell = row[name]
            if is_missing(cell):
                missing += 1
            else:
                present.append((i + 1, cell))
        if feature["type"] == "numeric":
            profile = numeric_bins([parse_number(c, name, r) for r, c in present], bins)
        elif feature["type"] == "boolean":
            counts = [0, 0, 0]
            for r, c in present:
                text = clean_cell(c)
                if FALSE_RE.fullmatch(text):
                    counts[0] += 1
                elif TRUE_RE.fullmatch(text):
                    counts[1] += 1
                else:
                    raise ReferenceDataError(f'column "{name}" row {r}: "{c}" is not a boolean')
            profile = {"kind": "categorical", "categories": ["false", "true"], "counts": counts}
        else:
            tally: dict[str, int] = {}
            for _, c in present:
                value = clean_cell(c)
                tally[value] = tally.get(value, 0) + 1
            ranked = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
            if ranked:
                top = ranked[:top_k]
                categories = [k for k, _ in top]
                counts = [c for _, c in top] + [sum(c for _, c in ranked[top_k:])]
            else:
                # No value to rank: keep the declared categories so live values still have bins.
                categories = sorted(feature["categories"])[:top_k]
                counts = [0] * (len(categories) + 1)
            profile = {"kind": "categorical", "categories": categories, "counts": counts}
        profile["missing"] = missing
        out[name] = profile
    return {"referenceCount": len(rows), "features": out}


def read_reference_csv(path: Path) -> list[dict[str, str]]:
    # utf-8-sig drops a byte-order mark, as parseReferenceCsv does (csv-parse `bom: true`).
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def snake_case(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def lineage_stamp() -> tuple[str, str]:
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    # The commit's date, not "now", so reruns on the same commit write identical manifests.
    committed = git("log", "-1", "--format=%ct")
    when = (
        datetime.fromtimestamp(int(committed), timezone.utc)
        if committed
        else datetime(2026, 1, 1, tzinfo=timezone.utc)
    )
    return commit, when.strftime("%Y-%m-%dT%H:%M:%SZ")


def float32_at_most(t: float) -> float:
    """Largest float32 <= t. ORT compares float32 inputs with float32 thresholds; sklearn compares the float32
    input with the float64 threshold. Rounding the threshold down keeps `x <= t` identical for every float32 x,
    where round-to-nearest could flip inputs that sit between t and its rounded value."""
    f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf), dtype=np.float32)
    return float(f)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    return {
        "auc": round(float(roc_auc_score(y_true, proba[:, 1])), 6),
        "accuracy": round(float(accuracy_score(y_true, (proba[:, 1] > 0.5).astype(int))), 6),
        "logloss": round(float(log_loss(y_true, proba)), 6),
    }


def pick_smoke_rows(proba: np.ndarray, y: np.ndarray) -> list[int]:
    """Two confident rows of each class, plus the least confident row that is still clear of 0.5 (float32
    arithmetic in ONNX Runtime must not be able to flip its label)."""
    picks: list[int] = []
    for cls in (0, 1):
        picks += [int(i) for i in np.flatnonzero(y == cls)[:2]]
    margin = np.abs(proba[:, 1] - 0.5)
    candidates = [int(i) for i in np.argsort(margin, kind="stable") if margin[i] > 0.05 and int(i) not in picks]
    picks.append(candidates[0])
    return picks


def tensor_value_info(name: str, elem: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def finish_model(graph: onnx.GraphProto, doc: str) -> bytes:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="serverless-modelops examples/make_examples.py",
        producer_version="1",
        doc_string=doc,
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def write_bundle(directory: Path, onnx_bytes: bytes, csv_text: str, manifest: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(onnx_bytes)
    write_text(directory / "reference.csv", csv_text)
    # The baseline is computed from the file as written, exactly as `modelops push --reference` would read it.
    rows = read_reference_csv(directory / "reference.csv")
    manifest["baseline"] = compute_baseline(manifest["inputs"]["features"], rows)
    manifest["artifact"] = {
        "file": "model.onnx",
        "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "sizeBytes": len(onnx_bytes),
    }
    ordered = {k: manifest[k] for k in MANIFEST_KEY_ORDER if k in manifest}
    write_text(directory / "manifest.json", json.dumps(ordered, indent=2) + "\n")
    size_csv = len(csv_text.encode("utf-8"))
    if size_csv >= 1_000_000:
        raise SystemExit(f"{directory.name}/reference.csv is {size_csv} bytes; keep it under 1 MB")
    print(
        f"{directory.name}: model.onnx {len(onnx_bytes)} B, reference.csv {size_csv} B "
        f"({len(rows)} rows), metrics {manifest['metrics']}"
    )


MANIFEST_KEY_ORDER = [
    "manifestVersion",
    "name",
    "version",
    "framework",
    "owner",
    "description",
    "artifact",
    "inputs",
    "outputs",
    "metrics",
    "gates",
    "baseline",
    "smokeSamples",
    "lineage",
    "modelCard",
    "approval",
]


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def fmt_float(x: float) -> str:
    return repr(float(x))  # shortest round-trip text: TypeScript's Number() reads back the same float64


# ---------------------------------------------------------------------------------------------------------------
# breast-cancer: GradientBoostingClassifier -> ai.onnx.ml TreeEnsembleClassifier
# ---------------------------------------------------------------------------------------------------------------


def tree_ensemble_attrs(gb: GradientBoostingClassifier) -> dict:
    a: dict[str, list] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
        "nodes_truenodeids", "nodes_falsenodeids", "class_treeids", "class_nodeids", "class_ids", "class_weights",
    )}
    for tree_id, est in enumerate(gb.estimators_[:, 0]):
        t = est.tree_
        for node in range(t.node_count):
            leaf = t.children_left[node] == -1
            a["nodes_treeids"].append(tree_id)
            a["nodes_nodeids"].append(node)
            a["nodes_featureids"].append(0 if leaf else int(t.feature[node]))
            a["nodes_values"].append(0.0 if leaf else float32_at_most(float(t.threshold[node])))
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_truenodeids"].append(0 if leaf else int(t.children_left[node]))
            a["nodes_falsenodeids"].append(0 if leaf else int(t.children_right[node]))
            if leaf:
                a["class_treeids"].append(tree_id)
                a["class_nodeids"].append(node)
                a["class_ids"].append(0)
                a["class_weights"].append(float(t.value[node, 0, 0]) * gb.learning_rate)
    return a


def emulate_tree_ensemble(attrs: dict, base: float, x32: np.ndarray) -> np.ndarray:
    """Raw score the exported attributes produce (float64 sums): checks the export before ONNX Runtime does."""
    nodes = {}
    for i, (tid, nid) in enumerate(zip(attrs["nodes_treeids"], attrs["nodes_nodeids"])):
        nodes[(tid, nid)] = i
    weights = {(t, n): w for t, n, w in zip(attrs["class_treeids"], attrs["class_nodeids"], attrs["class_weights"])}
    trees = sorted(set(attrs["nodes_treeids"]))
    out = np.full(len(x32), base)
    for r, row in enumerate(x32):
        for tid in trees:
            nid = 0
            while attrs["nodes_modes"][nodes[(tid, nid)]] != "LEAF":
                i = nodes[(tid, nid)]
                go_left = row[attrs["nodes_featureids"][i]] <= np.float32(attrs["nodes_values"][i])
                nid = attrs["nodes_truenodeids"][i] if go_left else attrs["nodes_falsenodeids"][i]
            out[r] += weights[(tid, nid)]
    return out


def make_breast_cancer(commit: str, trained_at: str) -> None:
    data = load_breast_cancer()
    names = [snake_case(n) for n in data.feature_names]
    labels = [str(n) for n in data.target_names]  # class order: 0 malignant, 1 benign
    X, y = data.data, data.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)
    gb = GradientBoostingClassifier(n_estimators=60, max_depth=3, learning_rate=0.1, random_state=0)
    gb.fit(X_train, y_train)
    proba = gb.predict_proba(X_test)
    predicted = gb.predict(X_test)

    # sklearn's raw score is init log-odds + learning_rate * sum(tree values); the init is the prior log-odds.
    base = float(gb._raw_predict_init(X_test[:1])[0, 0])
    attrs = tree_ensemble_attrs(gb)
    emulated = emulate_tree_ensemble(attrs, base, X_test.astype(np.float32))
    drift = float(np.max(np.abs(emulated - gb.decision_function(X_test))))
    if drift > 1e-9:
        raise SystemExit(f"tree export does not reproduce sklearn's decision_function (max diff {drift})")

    node = helper.make_node(
        "TreeEnsembleClassifier",
        ["input"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        name="GradientBoosting",
        base_values=[base],
        classlabels_int64s=[0, 1],
        post_transform="LOGISTIC",
        **attrs,
    )
    graph = helper.make_graph(
        [node],
        "breast_cancer_gbdt",
        [tensor_value_info("input", TensorProto.FLOAT, ["N", len(names)])],
        [
            tensor_value_info("label", TensorProto.INT64, ["N"]),
            tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
        ],
    )
    onnx_bytes = finish_model(graph, "Breast cancer (Wisconsin diagnostic) gradient boosting, 60 trees of depth 3.")

    csv_rows = [[fmt_float(v) for v in row] + [labels[t]] for row, t in zip(X_train, y_train)]
    csv_text = to_csv(names + ["label"], csv_rows)

    metrics = classification_metrics(y_test, proba)
    smoke = [
        {
            "inputs": {n: float(v) for n, v in zip(names, X_test[i])},
            "expected": {"label": int(predicted[i]), "probabilities": [float(p) for p in proba[i]]},
            "tolerance": 1e-4,
        }
        for i in pick_smoke_rows(proba, y_test)
    ]
    manifest = {
        "manifestVersion": 1,
        "name": "breast-cancer",
        "version": "1.0.0",
        "framework": "onnx",
        "owner": "ml-platform",
        "description": "Gradient-boosted trees classifying breast cell nuclei measurements as malignant or benign.",
        "inputs": {
            "features": [{"name": n, "type": "numeric", "required": True, "pii": False} for n in names],
            "tensors": [{"name": "input", "elementType": "float32", "features": names}],
        },
        "outputs": [
            {"name": "label", "kind": "class", "elementType": "int64", "labels": labels},
            {"name": "probabilities", "kind": "probability", "elementType": "float32", "labels": labels},
        ],
        "metrics": metrics,
        "gates": {
            "minimums": {"auc": 0.95, "accuracy": 0.9},
            "maximums": {"logloss": 0.3},
            "maxRegression": {"auc": 0.02, "accuracy": 0.03},
        },
        "smokeSamples": smoke,
        "lineage": {
            "trainingData": "sklearn:load_breast_cancer (Wisconsin diagnostic, 569 rows; "
            "80% stratified train split, random_state=42)",
            "codeCommit": commit,
            "trainer": f"scikit-learn {sklearn.__version__} GradientBoostingClassifier",
            "trainedAt": trained_at,
        },
        "modelCard": {
            "intendedUse": "Demonstration model for the serverless-modelops release, canary and drift pipeline.",
            "limitations": "Trained on 455 rows of one 1990s clinical data set; not validated for any clinical use. "
            "Inputs are measurements of digitized fine needle aspirate images, in the data set's units.",
            "description": "scikit-learn GradientBoostingClassifier (60 trees, depth 3, learning rate 0.1) exported "
            "by hand to an ONNX ai.onnx.ml TreeEnsembleClassifier.",
        },
        "approval": {"required": False, "riskTier": "medium"},
    }
    write_bundle(EXAMPLES / "breast-cancer", onnx_bytes, csv_text, manifest)


# ---------------------------------------------------------------------------------------------------------------
# credit-risk: synthetic loans, LogisticRegression on scaled numerics + one-hot employment + guarantor
# ---------------------------------------------------------------------------------------------------------------

CREDIT_SEED = 20260201
EMPLOYMENT = ["salaried", "self_employed", "contract", "unemployed"]


def synthesize_credit(n: int = 3000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(CREDIT_SEED)
    employment = rng.choice(EMPLOYMENT, size=n, p=[0.58, 0.17, 0.15, 0.10])
    age = rng.integers(21, 71, size=n)
    median_income = np.select(
        [employment == "salaried", employment == "self_employed", employment == "contract"],
        [52_000.0, 58_000.0, 44_000.0],
        14_000.0,
    )
    # Income grows with age until the late forties, then flattens: lognormal around that curve.
    age_factor = 0.75 + 0.5 * np.minimum(age - 21, 27) / 27
    spread = np.where(employment == "self_employed", 0.6, 0.4)
    income = np.round(median_income * age_factor * np.exp(rng.normal(0.0, spread)) / 100) * 100
    income = np.maximum(income, 3_000.0)
    loan_amount = np.maximum(np.round(income * rng.uniform(0.05, 0.9, size=n) / 100) * 100, 1_000.0)
    has_guarantor = rng.random(n) < 0.28
    emp_effect = np.select(
        [employment == "salaried", employment == "self_employed", employment == "contract"], [-0.5, 0.1, 0.3], 1.1
    )
    logit = (
        -2.0
        + 2.2 * (loan_amount / income)
        - 0.6 * np.log(income / 50_000.0)
        - 0.025 * (age - 40)
        + emp_effect
        - 0.9 * has_guarantor
    )
    defaulted = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return {
        "income": income,
        "loan_amount": loan_amount,
        "age": age.astype(float),
        "employment": employment,
        "has_guarantor": has_guarantor,
        "label": defaulted,
    }


def credit_design(scaler: StandardScaler, numeric: np.ndarray, employment: np.ndarray, guarantor: np.ndarray):
    onehot = np.stack([(employment == c).astype(float) for c in EMPLOYMENT], axis=1)
    return np.hstack([scaler.transform(numeric), onehot, guarantor.reshape(-1, 1).astype(float)])


def make_credit_risk(commit: str, trained_at: str) -> None:
    d = synthesize_credit()
    numeric = np.stack([d["income"], d["loan_amount"], d["age"]], axis=1)
    idx_train, idx_test = train_test_split(
        np.arange(len(d["label"])), test_size=0.25, stratify=d["label"], random_state=0
    )
    scaler = StandardScaler().fit(numeric[idx_train])
    X_train = credit_design(scaler, numeric[idx_train], d["employment"][idx_train], d["has_guarantor"][idx_train])
    X_test = credit_design(scaler, numeric[idx_test], d["employment"][idx_test], d["has_guarantor"][idx_test])
    y_train, y_test = d["label"][idx_train], d["label"][idx_test]
    lr = LogisticRegression(C=1.0, max_iter=1000, random_state=0).fit(X_train, y_train)
    proba = lr.predict_proba(X_test)
    predicted = lr.predict(X_test)
    labels = ["repaid", "defaulted"]

    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    init = [
        numpy_helper.from_array(f32(scaler.mean_), "scaler_mean"),
        numpy_helper.from_array(f32(scaler.scale_), "scaler_scale"),
        numpy_helper.from_array(f32(lr.coef_.reshape(-1, 1)), "coef"),
        numpy_helper.from_array(f32(lr.intercept_), "intercept"),
        numpy_helper.from_array(f32([1.0]), "one"),
        numpy_helper.from_array(f32([0.0]), "zero"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat_shape"),
    ]
    nodes = [
        helper.make_node("Sub", ["numeric", "scaler_mean"], ["centered"], name="Center"),
        helper.make_node("Div", ["centered", "scaler_scale"], ["scaled"], name="Scale"),
        # zeros=1: an unseen employment value encodes as all zeros instead of failing the request.
        helper.make_node(
            "OneHotEncoder", ["employment"], ["employment_onehot3d"], domain="ai.onnx.ml",
            name="EmploymentOneHot", cats_strings=EMPLOYMENT, zeros=1,
        ),
        helper.make_node("Flatten", ["employment_onehot3d"], ["employment_onehot"], name="FlattenOneHot", axis=1),
        helper.make_node("Cast", ["has_guarantor"], ["guarantor_float"], name="GuarantorToFloat", to=TensorProto.FLOAT),
        helper.make_node(
            "Concat", ["scaled", "employment_onehot", "guarantor_float"], ["design"], name="Design", axis=1
        ),
        helper.make_node("MatMul", ["design", "coef"], ["linear"], name="Weights"),
        helper.make_node("Add", ["linear", "intercept"], ["logit"], name="Intercept"),
        helper.make_node("Sigmoid", ["logit"], ["p_default"], name="Sigmoid"),
        helper.make_node("Sub", ["one", "p_default"], ["p_repaid"], name="Complement"),
        helper.make_node("Concat", ["p_repaid", "p_default"], ["probabilities"], name="Probabilities", axis=1),
        # The label follows the logit's sign, as sklearn's predict does (decision_function > 0).
        helper.make_node("Greater", ["logit", "zero"], ["is_default"], name="Decide"),
        helper.make_node("Cast", ["is_default"], ["label_2d"], name="LabelToInt", to=TensorProto.INT64),
        helper.make_node("Reshape", ["label_2d", "flat_shape"], ["label"], name="FlattenLabel"),
    ]
    graph = helper.make_graph(
        nodes,
        "credit_risk_logreg",
        [
            tensor_value_info("numeric", TensorProto.FLOAT, ["N", 3]),
            tensor_value_info("employment", TensorProto.STRING, ["N", 1]),
            tensor_value_info("has_guarantor", TensorProto.BOOL, ["N", 1]),
        ],
        [
            tensor_value_info("label", TensorProto.INT64, ["N"]),
            tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
        ],
        initializer=init,
        # onnx 1.12's shape inference knows no output type for OneHotEncoder; declare it so full_check passes.
        value_info=[tensor_value_info("employment_onehot3d", TensorProto.FLOAT, ["N", 1, len(EMPLOYMENT)])],
    )
    onnx_bytes = finish_model(graph, "Synthetic credit risk: logistic regression with in-graph scaling and one-hot.")

    def fmt_int(x: float) -> str:
        return str(int(x))

    header = ["income", "loan_amount", "age", "employment", "has_guarantor", "label"]
    csv_rows = [
        [
            fmt_int(d["income"][i]),
            fmt_int(d["loan_amount"][i]),
            fmt_int(d["age"][i]),
            str(d["employment"][i]),
            "true" if d["has_guarantor"][i] else "false",
            labels[d["label"][i]],
        ]
        for i in idx_train
    ]
    csv_text = to_csv(header, csv_rows)

    smoke = []
    for j in pick_smoke_rows(proba, y_test):
        i = idx_test[j]
        smoke.append(
            {
                "inputs": {
                    "income": float(d["income"][i]),
                    "loan_amount": float(d["loan_amount"][i]),
                    "age": float(d["age"][i]),
                    "employment": str(d["employment"][i]),
                    "has_guarantor": bool(d["has_guarantor"][i]),
                },
                "expected": {"label": int(predicted[j]), "probabilities": [float(p) for p in proba[j]]},
                "tolerance": 1e-4,
            }
        )

    manifest = {
        "manifestVersion": 1,
        "name": "credit-risk",
        "version": "1.0.0",
        "framework": "onnx",
        "owner": "ml-platform",
        "description": "Probability that a consumer loan defaults, from income, loan amount, age, employment "
        "and guarantor.",
        "inputs": {
            "features": [
                {"name": "income", "type": "numeric", "required": True, "pii": False,
                 "description": "Yearly gross income, EUR", "range": {"min": 0}},
                {"name": "loan_amount", "type": "numeric", "required": True, "pii": False,
                 "description": "Requested principal, EUR", "range": {"min": 0}},
                {"name": "age", "type": "numeric", "required": True, "pii": True,
                 "description": "Applicant age in years", "range": {"min": 18, "max": 120}},
                {"name": "employment", "type": "categorical", "required": True, "pii": False,
                 "description": "Employment status", "categories": EMPLOYMENT},
                {"name": "has_guarantor", "type": "boolean", "required": True, "pii": False,
                 "description": "A guarantor co-signs the loan"},
            ],
            "tensors": [
                {"name": "numeric", "elementType": "float32", "features": ["income", "loan_amount", "age"]},
                {"name": "employment", "elementType": "string", "features": ["employment"]},
                {"name": "has_guarantor", "elementType": "bool", "features": ["has_guarantor"]},
            ],
        },
        "outputs": [
            {"name": "label", "kind": "class", "elementType": "int64", "labels": labels},
            {"name": "probabilities", "kind": "probability", "elementType": "float32", "labels": labels},
        ],
        "metrics": classification_metrics(y_test, proba),
        "gates": {
            "minimums": {"auc": 0.72, "accuracy": 0.75},
            "maximums": {"logloss": 0.5},
            "maxRegression": {"auc": 0.02, "accuracy": 0.03},
        },
        "smokeSamples": smoke,
        "lineage": {
            "trainingData": f"synthetic:credit-risk seed={CREDIT_SEED} "
            "(3000 rows; 75% stratified train split, random_state=0)",
            "codeCommit": commit,
            "trainer": f"scikit-learn {sklearn.__version__} LogisticRegression (StandardScaler + one-hot employment)",
            "trainedAt": trained_at,
        },
        "modelCard": {
            "intendedUse": "Demonstration of a model with categorical, boolean and PII inputs in the "
            "serverless-modelops pipeline (approval gate, drift on categorical features).",
            "limitations": "Trained on synthetic data drawn from a hand-written logistic process; it says "
            "nothing about real borrowers and must not inform any credit decision. Age is personal data "
            "and is never logged.",
            "description": "scikit-learn LogisticRegression on standardized income, loan_amount and age, one-hot "
            "employment and has_guarantor, exported to ONNX with standard ops (Sub, Div, OneHotEncoder, Concat, "
            "MatMul, Sigmoid).",
        },
        "approval": {"required": True, "riskTier": "high"},
    }
    write_bundle(EXAMPLES / "credit-risk", onnx_bytes, csv_text, manifest)


# ---------------------------------------------------------------------------------------------------------------
# digits: a tensor input. MLPClassifier on 8x8 images, input float32 [N, 8, 8] (tensor feature "image", shape [8, 8])
# ---------------------------------------------------------------------------------------------------------------

DIGITS_SHAPE = [8, 8]


def tensor_stats(image: list) -> tuple[float, float]:
    """Per-instance drift statistics of a tensor, the twin of compileTensorStats (lambdas/core/tensor-values.ts):
    elements rounded to float32, summed in row-major order in float64; (L2 norm, mean)."""
    total = 0.0
    squares = 0.0
    count = 0
    for row in image:
        for v in row:
            x = float(np.float32(v))
            total += x
            squares += x * x
            count += 1
    return math.sqrt(squares), total / count


def compute_tensor_baseline(feature: str, instances: list[dict], bins: int = DEFAULT_BINS) -> dict:
    """The twin of computeInstanceBaseline (lambdas/core/baseline.ts) for one tensor feature: numeric bins of the
    per-instance norm and mean under `<feature>.norm` and `<feature>.mean`."""
    norms: list[float] = []
    means: list[float] = []
    missing = 0
    for instance in instances:
        value = instance.get(feature)
        if value is None:
            missing += 1
            continue
        norm, mean = tensor_stats(value)
        norms.append(norm)
        means.append(mean)
    out = {}
    for key, values in ((f"{feature}.norm", norms), (f"{feature}.mean", means)):
        profile = numeric_bins(values, bins)
        profile["missing"] = missing
        out[key] = profile
    return {"referenceCount": len(instances), "features": out}


def make_digits(commit: str, trained_at: str) -> None:
    data = load_digits()
    labels = [str(int(t)) for t in data.target_names]  # class order 0..9
    X, y = data.data, data.target  # pixel intensities 0..16, whole numbers
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), activation="relu", max_iter=400, random_state=0)
    mlp.fit(X_train / 16.0, y_train)
    proba = mlp.predict_proba(X_test / 16.0)
    predicted = mlp.predict(X_test / 16.0)

    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    init = [
        numpy_helper.from_array(np.array([-1, 64], dtype=np.int64), "flat_shape"),
        numpy_helper.from_array(f32([1.0 / 16.0]), "scale"),
        numpy_helper.from_array(f32(mlp.coefs_[0]), "w1"),
        numpy_helper.from_array(f32(mlp.intercepts_[0]), "b1"),
        numpy_helper.from_array(f32(mlp.coefs_[1]), "w2"),
        numpy_helper.from_array(f32(mlp.intercepts_[1]), "b2"),
    ]
    nodes = [
        helper.make_node("Reshape", ["image", "flat_shape"], ["flat"], name="Flatten"),
        helper.make_node("Mul", ["flat", "scale"], ["scaled"], name="Scale"),
        helper.make_node("MatMul", ["scaled", "w1"], ["h1"], name="Hidden"),
        helper.make_node("Add", ["h1", "b1"], ["h1b"], name="HiddenBias"),
        helper.make_node("Relu", ["h1b"], ["a1"], name="Relu"),
        helper.make_node("MatMul", ["a1", "w2"], ["logits0"], name="Output"),
        helper.make_node("Add", ["logits0", "b2"], ["logits"], name="OutputBias"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="Softmax", axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], name="Decide", axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [tensor_value_info("image", TensorProto.FLOAT, ["N", *DIGITS_SHAPE])],
        [
            tensor_value_info("label", TensorProto.INT64, ["N"]),
            tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(labels)]),
        ],
        initializer=init,
    )
    onnx_bytes = finish_model(graph, "Handwritten digits (8x8): a one-hidden-layer MLP on a tensor input.")

    def image_of(row: np.ndarray) -> list[list[int]]:
        return [[int(v) for v in row[r * 8:(r + 1) * 8]] for r in range(8)]

    reference = [{"image": image_of(row), "label": labels[t]} for row, t in zip(X_train, y_train)]
    jsonl = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in reference)

    # One confident test image per class 0-3, the last one sent as base64 (both request forms are smoke-tested).
    smoke = []
    for cls in range(4):
        i = next(int(i) for i in np.flatnonzero(y_test == cls) if proba[i].max() > 0.9 and predicted[i] == cls)
        image = image_of(X_test[i])
        value = (
            {"b64": __import__("base64").b64encode(np.asarray(image, dtype="<f4").tobytes()).decode("ascii")}
            if cls == 3
            else image
        )
        smoke.append(
            {
                "inputs": {"image": value},
                "expected": {"label": int(predicted[i]), "probabilities": [float(p) for p in proba[i]]},
                "tolerance": 1e-4,
            }
        )
    accuracy = round(float(accuracy_score(y_test, predicted)), 6)
    manifest = {
        "manifestVersion": 1,
        "name": "digits",
        "version": "1.0.0",
        "framework": "onnx",
        "owner": "ml-platform",
        "description": "Handwritten digit (0-9) recognition from an 8x8 grey-scale image: a tensor input.",
        "inputs": {
            "features": [
                {"name": "image", "type": "tensor", "elementType": "float32", "shape": DIGITS_SHAPE,
                 "required": True, "pii": False,
                 "description": "8x8 pixel intensities 0-16, row-major (sklearn load_digits)"},
            ],
            "tensors": [{"name": "image", "elementType": "float32", "features": ["image"]}],
        },
        "outputs": [
            {"name": "label", "kind": "class", "elementType": "int64", "labels": labels},
            {"name": "probabilities", "kind": "probability", "elementType": "float32", "labels": labels},
        ],
        "metrics": {"accuracy": accuracy, "logloss": round(float(log_loss(y_test, proba)), 6)},
        "gates": {
            "minimums": {"accuracy": 0.9},
            "maximums": {"logloss": 0.5},
            "maxRegression": {"accuracy": 0.03},
        },
        "smokeSamples": smoke,
        "lineage": {
            "trainingData": "sklearn:load_digits (1797 8x8 images; 80% stratified train split, random_state=42)",
            "codeCommit": commit,
            "trainer": f"scikit-learn {sklearn.__version__} MLPClassifier (32 relu units)",
            "trainedAt": trained_at,
        },
        "modelCard": {
            "intendedUse": "Demonstration of a tensor-input model (image) in the serverless-modelops pipeline: "
            "nested-array and base64 request forms, drift on the image's norm and mean.",
            "limitations": "Trained on 1,437 tiny scanned digits from one 1990s data set; not a general OCR model.",
            "description": "scikit-learn MLPClassifier (one hidden layer of 32 relu units) exported by hand to ONNX "
            "(Reshape, Mul, MatMul, Add, Relu, Softmax, ArgMax).",
        },
        "approval": {"required": False, "riskTier": "low"},
    }
    directory = EXAMPLES / "digits"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(onnx_bytes)
    write_text(directory / "reference.jsonl", jsonl)
    # From the file as written, as `modelops push --reference reference.jsonl` reads it.
    lines = [json.loads(line) for line in (directory / "reference.jsonl").read_text(encoding="utf-8").splitlines()]
    manifest["baseline"] = compute_tensor_baseline("image", lines)
    manifest["artifact"] = {
        "file": "model.onnx",
        "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "sizeBytes": len(onnx_bytes),
    }
    ordered = {k: manifest[k] for k in MANIFEST_KEY_ORDER if k in manifest}
    write_text(directory / "manifest.json", json.dumps(ordered, indent=2) + "\n")
    write_text(
        directory / "instances.json",
        json.dumps({"instances": [{"image": image_of(X_test[0])}]}, indent=2) + "\n",
    )
    print(
        f"digits: model.onnx {len(onnx_bytes)} B, reference.jsonl {len(jsonl.encode('utf-8'))} B "
        f"({len(lines)} lines), metrics {manifest['metrics']}"
    )


def main() -> None:
    if sklearn.__version__ != "1.2.1":
        print(f"warning: built with scikit-learn 1.2.1, running {sklearn.__version__}", file=sys.stderr)
    commit, trained_at = lineage_stamp()
    make_breast_cancer(commit, trained_at)
    make_credit_risk(commit, trained_at)
    make_digits(commit, trained_at)


if __name__ == "__main__":
    main()
