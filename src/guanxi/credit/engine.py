"""The scorecard engine: check a scorecard's definition, compile it, evaluate one customer's facts.

A scorecard is data (`Scorecard.definition`, JSON). `validate_definition` checks it and names the
place of every error; `CompiledScorecard` compiles it into tables that evaluate fast and exactly —
every bin boundary becomes an integer in its fact's carried unit (fen, basis points, counts, see
`facts`), every range rule a sorted tuple searched with `bisect` — and into one generated Python
function, `evaluate_row`. It takes one row of facts — the same row shape for one customer and for
a batch of a million, both read by `credit.reader` — and gives the score, the per-indicator
breakdown, the gates that fired, the grade and what is missing. Nothing here touches the database.

Semantics: a missing required fact (or local average) makes the outcome incomplete — no score, no
grade, the list of what to collect. Otherwise score = indicators + adjustments, clamped to
0..score_max; the grade is the best band whose minimum the score reaches, lowered by every cap that
fired (the lowest wins); a failed eligibility gate gives the lowest grade.

The definition::

    score_max      the most points a customer can have (the indicators' maxima add up to it)
    inputs         optional extra facts collected per customer: key, kind, label_zh/label_en, choices
    blocks         [{code, label_zh, label_en}] groups of indicators
    indicators     [{code, block, fact, max_points, label_zh, label_en, rule}]
    adjustments    [{code, kind: bonus|penalty, fact, rule, optional (default true)}] added to the score
    eligibility    [{code, label, require: condition}] every one must hold, else the lowest grade, no line
    caps           [{code, label, grade, when: [condition, ...]}] if any condition holds, at most `grade`
    bands          [{grade, min, line (default true), label_zh, label_en}] best first; the last has min 0
    line           the credit-line policy (see `credit.lines`)

Rules: ``{"kind": "ranges", "bins": [{"from": x, "points": p}, ...], "below": p0}`` (ascending lower
bounds, inclusive); ``{"kind": "ratio_to_local_average", "average": key, "bins": [...], "below": p0}``
(the fact divided by the local average of the customer's org unit, in times);
``{"kind": "categories", "points": {code: p}, "other": p0}`` (yes/no facts use codes true / false).

Conditions: ``{"fact": key, "op": eq|ne|lt|lte|gt|gte|in|not_in|between, "value": v}`` in the fact's
natural unit (yuan, per cent, times, count, true/false, a category code), or a floor on an indicator:
``{"indicator": code, "below_full": true}`` / ``{"indicator": code, "below": points}``.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from guanxi.credit.facts import AVERAGE_PREFIX, AverageKey, Fact, Kind, facts_for

CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
GRADE_RE = re.compile(r"^[A-Z]{1,4}$")
OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "between")
RULE_KINDS = ("ranges", "ratio_to_local_average", "categories")
ADJUSTMENT_KINDS = ("bonus", "penalty")
MAX_POINTS = 1000


# --- validation ----------------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.messages.append(f"{path}: {message}")


def _carried(fact: Fact, value: Any, path: str, errors: _Errors, *, times: bool = False) -> int | str | None:
    """A bound or comparison value in natural units → the carried integer (or category code)."""
    if fact.kind == Kind.CATEGORY and not times:
        if not isinstance(value, str) or value not in dict(fact.choices):
            errors.add(path, _("%(value)s is not one of %(choices)s")
                       % {"value": value, "choices": ", ".join(code for code, _l in fact.choices)})
            return None
        return value
    if fact.kind == Kind.BOOL and not times:
        if isinstance(value, bool):
            return int(value)
        errors.add(path, _("use true or false"))
        return None
    scale = 10000 if times else fact.scale
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors.add(path, _("%(value)s is not a number") % {"value": value})
        return None
    if isinstance(value, bool) or not number.is_finite():
        errors.add(path, _("%(value)s is not a number") % {"value": value})
        return None
    carried = number * scale
    if carried != carried.to_integral_value():
        errors.add(path, _("%(value)s has too many decimal places") % {"value": value})
        return None
    return int(carried)


def _points(value: Any, path: str, errors: _Errors, *, negative: bool = False) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, _("points are whole numbers"))
        return None
    if abs(value) > MAX_POINTS or (value < 0 and not negative):
        errors.add(path, _("points must be between 0 and %(max)d") % {"max": MAX_POINTS})
        return None
    return value


def _check_rule(rule: Any, fact: Fact | None, path: str, errors: _Errors, *, negative: bool = False) -> list[int]:
    """Check one binning rule; returns every number of points it can give."""
    if not isinstance(rule, dict) or rule.get("kind") not in RULE_KINDS:
        errors.add(path, _("the rule's kind is one of %(kinds)s") % {"kinds": ", ".join(RULE_KINDS)})
        return []
    kind = rule["kind"]
    given: list[int] = []
    if kind == "categories":
        table = rule.get("points")
        if not isinstance(table, dict) or not table:
            errors.add(f"{path}.points", _("give the points of each category"))
            return []
        if fact is not None and fact.kind not in (Kind.CATEGORY, Kind.BOOL):
            errors.add(path, _("a categories rule needs a category or yes/no fact"))
            return []
        codes = ("true", "false") if fact is not None and fact.kind == Kind.BOOL else (
            tuple(dict(fact.choices)) if fact is not None else ())
        for code, points in table.items():
            if code not in codes:
                errors.add(f"{path}.points.{code}", _("%(value)s is not one of %(choices)s")
                           % {"value": code, "choices": ", ".join(codes)})
            value = _points(points, f"{path}.points.{code}", errors, negative=negative)
            if value is not None:
                given.append(value)
        other = _points(rule.get("other", 0), f"{path}.other", errors, negative=negative)
        if other is not None:
            given.append(other)
        return given
    if fact is not None and fact.kind in (Kind.CATEGORY, Kind.BOOL):
        errors.add(path, _("a ranges rule needs a numeric fact"))
        return []
    if kind == "ratio_to_local_average":
        if rule.get("average") not in AverageKey.values:
            errors.add(f"{path}.average", _("the local average is one of %(keys)s")
                       % {"keys": ", ".join(AverageKey.values)})
        if fact is not None and fact.kind != Kind.MONEY:
            errors.add(path, _("only an amount can be compared with a local average"))
    bins = rule.get("bins")
    if not isinstance(bins, list) or not bins:
        errors.add(f"{path}.bins", _("give at least one range"))
        return []
    previous = None
    for index, item in enumerate(bins):
        where = f"{path}.bins[{index}]"
        if not isinstance(item, dict) or "from" not in item or "points" not in item:
            errors.add(where, _("each range has a lower bound (from) and points"))
            continue
        bound = (_carried(fact, item["from"], f"{where}.from", errors, times=kind != "ranges")
                 if fact is not None else None)
        if bound is not None:
            if previous is not None and bound <= previous:
                errors.add(f"{where}.from", _("lower bounds must increase"))
            previous = bound
        value = _points(item["points"], f"{where}.points", errors, negative=negative)
        if value is not None:
            given.append(value)
    below = _points(rule.get("below", 0), f"{path}.below", errors, negative=negative)
    if below is not None:
        given.append(below)
    return given


def _check_condition(condition: Any, facts: dict[str, Fact], indicators: dict[str, int], path: str,
                     errors: _Errors) -> None:
    if not isinstance(condition, dict):
        errors.add(path, _("a condition names a fact or an indicator"))
        return
    if "indicator" in condition:
        if condition["indicator"] not in indicators:
            errors.add(f"{path}.indicator", _("no indicator is named %(code)s") % {"code": condition["indicator"]})
        elif not condition.get("below_full") and "below" not in condition:
            errors.add(path, _("say below_full: true or below: points"))
        elif "below" in condition:
            _points(condition["below"], f"{path}.below", errors)
        return
    fact = facts.get(condition.get("fact", ""))
    if fact is None:
        errors.add(f"{path}.fact", _("no fact is named %(key)s") % {"key": condition.get("fact")})
        return
    op = condition.get("op")
    if op not in OPS:
        errors.add(f"{path}.op", _("the operator is one of %(ops)s") % {"ops": ", ".join(OPS)})
        return
    value = condition.get("value")
    if op in ("in", "not_in", "between"):
        if not isinstance(value, list) or not value or (op == "between" and len(value) != 2):
            errors.add(f"{path}.value", _("give a list of values (two for between)"))
            return
        for index, item in enumerate(value):
            _carried(fact, item, f"{path}.value[{index}]", errors)
    else:
        if op in ("lt", "lte", "gt", "gte") and fact.kind in (Kind.CATEGORY, Kind.BOOL):
            errors.add(f"{path}.op", _("only numbers can be compared with %(op)s") % {"op": op})
            return
        _carried(fact, value, f"{path}.value", errors)


def _check_codes(items: list, path: str, errors: _Errors, seen: set[str]) -> None:
    for index, item in enumerate(items):
        code = item.get("code") if isinstance(item, dict) else None
        if not isinstance(code, str) or not CODE_RE.match(code):
            errors.add(f"{path}[{index}].code", _("a code is lower-case letters, digits and _"))
        elif code in seen:
            errors.add(f"{path}[{index}].code", _("the code %(code)s is used twice") % {"code": code})
        else:
            seen.add(code)


def validate_definition(definition: Any, customer_type: str) -> None:
    """Raise ValidationError({"definition": [...]}) listing every problem with its place; else return."""
    from guanxi.credit.lines import check_policy

    errors = _Errors()
    if not isinstance(definition, dict):
        raise ValidationError({"definition": [_("The definition is a JSON object.")]})
    for index, item in enumerate(definition.get("inputs") or []):
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key, str) or not CODE_RE.match(key):
            errors.add(f"inputs[{index}].key", _("a code is lower-case letters, digits and _"))
            continue
        choices = item.get("choices") or []
        if not isinstance(choices, list) or any(not isinstance(c, dict) or not CODE_RE.match(str(c.get("code", "")))
                                                for c in choices):
            errors.add(f"inputs[{index}].choices", _("each choice has a code of lower-case letters, digits and _"))
        elif item.get("kind") == Kind.CATEGORY and not choices:
            errors.add(f"inputs[{index}].choices", _("a category input lists its choices"))
        elif key in facts_for(None):
            errors.add(f"inputs[{index}].key", _("%(key)s is already a built-in fact") % {"key": key})
        elif item.get("kind", "count") not in Kind.values:
            errors.add(f"inputs[{index}].kind", _("the kind is one of %(kinds)s") % {"kinds": ", ".join(Kind.values)})
    if errors.messages:
        raise ValidationError({"definition": errors.messages})
    facts = facts_for(definition)
    score_max = definition.get("score_max")
    if _points(score_max, "score_max", errors) is None:
        score_max = None
    blocks = definition.get("blocks") or []
    block_codes: set[str] = set()
    _check_codes(blocks, "blocks", errors, block_codes)
    indicators = definition.get("indicators")
    if not isinstance(indicators, list) or not indicators:
        errors.add("indicators", _("a scorecard has at least one indicator"))
        indicators = []
    codes: set[str] = set()
    _check_codes(indicators, "indicators", errors, codes)
    maxima: dict[str, int] = {}
    total = 0
    for index, item in enumerate(indicators):
        path = f"indicators[{index}]"
        if not isinstance(item, dict):
            continue
        fact = facts.get(item.get("fact", ""))
        if fact is None:
            errors.add(f"{path}.fact", _("no fact is named %(key)s") % {"key": item.get("fact")})
        elif customer_type not in fact.types:
            errors.add(f"{path}.fact", _("%(key)s is not recorded for this customer type") % {"key": fact.key})
        if blocks and item.get("block") not in block_codes:
            errors.add(f"{path}.block", _("no block is named %(code)s") % {"code": item.get("block")})
        most = _points(item.get("max_points"), f"{path}.max_points", errors)
        given = _check_rule(item.get("rule"), fact, f"{path}.rule", errors)
        if most is not None:
            total += most
            maxima[item.get("code", "")] = most
            if given and max(given) > most:
                errors.add(f"{path}.rule", _("a range gives %(points)d points, more than the maximum %(max)d")
                           % {"points": max(given), "max": most})
    if score_max is not None and indicators and total != score_max:
        errors.add("indicators", _("the indicators' maximum points add up to %(total)d, not %(max)d")
                   % {"total": total, "max": score_max})
    adjustments = definition.get("adjustments") or []
    _check_codes(adjustments, "adjustments", errors, set(codes))
    for index, item in enumerate(adjustments):
        path = f"adjustments[{index}]"
        if not isinstance(item, dict):
            continue
        if item.get("kind") not in ADJUSTMENT_KINDS:
            errors.add(f"{path}.kind", _("an adjustment is a bonus or a penalty"))
        fact = facts.get(item.get("fact", ""))
        if fact is None:
            errors.add(f"{path}.fact", _("no fact is named %(key)s") % {"key": item.get("fact")})
        given = _check_rule(item.get("rule"), fact, f"{path}.rule", errors, negative=True)
        if item.get("kind") == "bonus" and any(points < 0 for points in given):
            errors.add(f"{path}.rule", _("a bonus gives points, it does not take them"))
        if item.get("kind") == "penalty" and any(points > 0 for points in given):
            errors.add(f"{path}.rule", _("a penalty takes points: use negative numbers"))
    gate_codes: set[str] = set()
    eligibility = definition.get("eligibility") or []
    _check_codes(eligibility, "eligibility", errors, gate_codes)
    for index, item in enumerate(eligibility):
        if isinstance(item, dict):
            if isinstance(item.get("require"), dict) and "indicator" in item["require"]:
                errors.add(f"eligibility[{index}].require", _("an eligibility gate reads a fact, not an indicator"))
                continue
            _check_condition(item.get("require"), facts, maxima, f"eligibility[{index}].require", errors)
    bands = definition.get("bands")
    grades: list[str] = []
    if not isinstance(bands, list) or len(bands) < 2:
        errors.add("bands", _("give at least two grade bands, best first"))
        bands = []
    previous = None
    for index, band in enumerate(bands):
        path = f"bands[{index}]"
        grade = band.get("grade") if isinstance(band, dict) else None
        if not isinstance(grade, str) or not GRADE_RE.match(grade):
            errors.add(f"{path}.grade", _("a grade is one to four capital letters"))
            continue
        if grade in grades:
            errors.add(f"{path}.grade", _("the grade %(grade)s is used twice") % {"grade": grade})
        grades.append(grade)
        minimum = _points(band.get("min"), f"{path}.min", errors)
        if minimum is not None:
            if previous is not None and minimum >= previous:
                errors.add(f"{path}.min", _("minimum scores must decrease from the best grade"))
            if score_max is not None and minimum > score_max:
                errors.add(f"{path}.min", _("the minimum is above the maximum score"))
            previous = minimum
    if bands and isinstance(bands[-1], dict) and bands[-1].get("min") != 0:
        errors.add(f"bands[{len(bands) - 1}].min", _("the lowest grade starts at 0 points"))
    caps = definition.get("caps") or []
    _check_codes(caps, "caps", errors, gate_codes)
    for index, item in enumerate(caps):
        path = f"caps[{index}]"
        if not isinstance(item, dict):
            continue
        if item.get("grade") not in grades:
            errors.add(f"{path}.grade", _("no grade band is named %(grade)s") % {"grade": item.get("grade")})
        conditions = item.get("when")
        if not isinstance(conditions, list) or not conditions:
            errors.add(f"{path}.when", _("give at least one condition"))
            continue
        for number, condition in enumerate(conditions):
            _check_condition(condition, facts, maxima, f"{path}.when[{number}]", errors)
    line = definition.get("line")
    if not isinstance(line, dict):
        errors.add("line", _("give the credit-line policy"))
    else:
        check_policy(line, customer_type, grades, facts, errors.add)
    if errors.messages:
        raise ValidationError({"definition": errors.messages})


# --- compiled form -------------------------------------------------------------------------------

RANGES, RATIO, CATEGORIES = 0, 1, 2


def _bound(fact: Fact, value: Any, *, times: bool = False) -> int | str:
    if fact.kind == Kind.CATEGORY and not times:
        return str(value)
    if fact.kind == Kind.BOOL and not times:
        return int(bool(value))
    return int(Decimal(str(value)) * (10000 if times else fact.scale))


@dataclass(frozen=True)
class Item:
    """One scoring item (an indicator or an adjustment) in compiled form."""

    code: str
    fact: Fact
    column: int  # index of its fact in the row
    kind: int  # RANGES / RATIO / CATEGORIES
    bounds: tuple  # ascending carried lower bounds (ranges, ratio)
    points: tuple  # points[i] for values with i bounds ≤ value; points[0] is "below"
    table: dict  # categories: carried code → points
    other: int
    average: str  # ratio: the local average key
    max_points: int
    optional: bool


@dataclass
class Outcome:
    """What the model says about one customer.

    `breakdown` maps an item's code to ``[value, points]`` (ratio rules: ``[value, points, ratio,
    average]``), values in carried units; `gates` lists the codes of the eligibility gates that
    failed and of the caps that fired; `missing` the facts (or ``average:KEY``) to collect first —
    then `score` is None and `grade` empty.
    """

    score: int | None
    grade: str
    eligible: bool
    breakdown: dict[str, list]
    gates: list[str]
    missing: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing


def _compile_rule(code: str, column: int, fact: Fact, rule: dict, max_points: int, optional: bool) -> Item:
    kind = rule["kind"]
    if kind == "categories":
        table = {}
        for key, points in rule["points"].items():
            table[(1 if key == "true" else 0) if fact.kind == Kind.BOOL else key] = points
        # Every known answer has its points, so only a code unknown to the fact takes the slow path.
        for known in ((1, 0) if fact.kind == Kind.BOOL else tuple(dict(fact.choices))):
            table.setdefault(known, rule.get("other", 0))
        return Item(code, fact, column, CATEGORIES, (), (), table, rule.get("other", 0), "", max_points, optional)
    bins = rule["bins"]
    times = kind == "ratio_to_local_average"
    bounds = tuple(_bound(fact, item["from"], times=times) for item in bins)
    points = (rule.get("below", 0), *(item["points"] for item in bins))
    return Item(code, fact, column, RATIO if times else RANGES, bounds, points, {}, 0, rule.get("average", ""),
                max_points, optional)


_OPERATORS = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "in": "in",
              "not_in": "not in"}


def _note_missing(missing: list[str] | None, key: str) -> list[str]:
    if missing is None:
        return [key]
    if key not in missing:
        missing.append(key)
    return missing


class CompiledScorecard:
    """A scorecard ready to evaluate rows of facts.

    `facts` is the ordered list of fact keys a row carries after its two leading columns
    (customer id, org unit id); `evaluate_row(row, averages)` reads `row[2 + i]` for `facts[i]`.

    The scorecard is compiled to one straight-line Python function (see `_generate`): no loop
    over indicators, no tuple unpacking, constants bound once — the hot path of a batch of a
    million customers. It is the only evaluator: one customer and a batch run the same code.
    """

    def __init__(self, definition: dict, customer_type: str) -> None:
        codes = [item.get("code", "") for group in ("indicators", "adjustments", "eligibility", "caps")
                 for item in definition.get(group) or []]
        if not all(isinstance(code, str) and CODE_RE.match(code) for code in codes):
            raise ValueError("a scorecard code is not an identifier; validate the definition first")
        self.definition = definition
        self.customer_type = customer_type
        self.fact_table = facts_for(definition)
        self.score_max: int = definition["score_max"]
        self.facts: list[str] = []
        columns: dict[str, int] = {}

        def column(key: str) -> int:
            if key not in columns:
                columns[key] = 2 + len(self.facts)
                self.facts.append(key)
            return columns[key]

        self.indicators = [
            _compile_rule(item["code"], column(item["fact"]), self.fact_table[item["fact"]], item["rule"],
                          item["max_points"], False)
            for item in definition["indicators"]
        ]
        self.adjustments = [
            _compile_rule(item["code"], column(item["fact"]), self.fact_table[item["fact"]], item["rule"], 0,
                          item.get("optional", True))
            for item in definition.get("adjustments") or []
        ]
        positions = {item.code: index for index, item in enumerate(self.indicators)}
        maxima = {item.code: item.max_points for item in self.indicators}

        def condition(spec: dict) -> tuple:
            if "indicator" in spec:
                floor = maxima[spec["indicator"]] if spec.get("below_full") else spec["below"]
                return ("indicator", positions[spec["indicator"]], "<", floor)
            fact = self.fact_table[spec["fact"]]
            op, value = spec["op"], spec["value"]
            if op in ("in", "not_in"):
                const: Any = frozenset(_bound(fact, v) for v in value)
            elif op == "between":
                const = (_bound(fact, value[0]), _bound(fact, value[1]))
            else:
                const = _bound(fact, value)
            return ("fact", column(spec["fact"]), op, const)

        self.eligibility = [(item["code"], condition(item["require"])) for item in definition.get("eligibility") or []]
        self.bands = definition["bands"]
        self.grades: list[str] = [band["grade"] for band in self.bands]
        self.rank = {grade: index for index, grade in enumerate(self.grades)}
        self.caps = [(item["code"], self.rank[item["grade"]], [condition(c) for c in item["when"]])
                     for item in definition.get("caps") or []]
        self.lowest = len(self.grades) - 1
        self.averages_used = sorted({item.average for item in (*self.indicators, *self.adjustments)
                                     if item.kind == RATIO})
        self.evaluate_row = self._generate()

    # --- code generation -------------------------------------------------------------------------

    def _generate(self):
        """Build `evaluate_row(row, averages) -> (score, grade, eligible, breakdown JSON, gates JSON, missing)`.

        Only generated names, column numbers and `repr()` of validated codes go into the source;
        every bound, table and threshold is passed in as a constant of the function's namespace.
        """
        ns: dict[str, Any] = {"_bisect": bisect_right, "_dumps": dumps, "_miss": _note_missing}
        out = ["def evaluate_row(row, averages):", "    missing = None", "    slow = False", "    total = 0"]
        average_names = {}
        for number, key in enumerate(self.averages_used):
            average_names[key] = f"avg{number}"
            out.append(f"    avg{number} = averages.get({key!r})")
        template: list[str] = []
        values: list[str] = []
        slow_entries: list[str] = []
        items = [*self.indicators, *self.adjustments]
        for i, item in enumerate(items):
            v, p = f"v{i}", f"p{i}"
            ns[f"B{i}"], ns[f"P{i}"], ns[f"T{i}"], ns[f"O{i}"] = item.bounds, item.points, item.table, item.other
            fact_key = self.facts[item.column - 2]
            out += [f"    {v} = row[{item.column}]", f"    if {v} is None:", f"        {p} = None",
                    "        slow = True"]
            if not item.optional:
                out.append(f"        missing = _miss(missing, {fact_key!r})")
            if item.kind == RATIO:
                avg = average_names[item.average]
                out += [f"    elif not {avg}:", f"        {p} = None", "        slow = True",
                        f"        missing = _miss(missing, {AVERAGE_PREFIX + item.average!r})",
                        "    else:", f"        r{i} = {v} * 10000 // {avg}",
                        f"        {p} = P{i}[_bisect(B{i}, r{i})]", f"        total += {p}"]
                template.append(f'"{item.code}":[%d,%d,%d,%d]')
                values += [v, p, f"r{i}", avg]
                slow_entries.append(f"    if {p} is not None: d[{item.code!r}] = [{v}, {p}, r{i}, {avg}]")
            elif item.kind == RANGES:
                out += ["    else:", f"        {p} = P{i}[_bisect(B{i}, {v})]", f"        total += {p}"]
                template.append(f'"{item.code}":[%d,%d]')
                values += [v, p]
                slow_entries.append(f"    if {p} is not None: d[{item.code!r}] = [{v}, {p}]")
            else:
                out += ["    else:", f"        {p} = T{i}.get({v})", f"        if {p} is None:",
                        f"            {p} = O{i}", "            slow = True", f"        total += {p}"]
                # Known category codes are validated identifiers, safe inside quotes; others go through JSON.
                template.append(f'"{item.code}":[%d,%d]' if item.fact.kind == Kind.BOOL
                                else f'"{item.code}":["%s",%d]')
                values += [v, p]
                slow_entries.append(f"    if {v} is not None: d[{item.code!r}] = [{v}, {p}]")
        ns["TEMPLATE"] = "{" + ",".join(template) + "}"
        out += ["    gates = None", "    eligible = True"]

        def test(spec: tuple, number: int) -> tuple[list[str], str]:
            """Lines that read the condition's fact, and the expression that is true when it holds."""
            what, position, op, const = spec
            if what == "indicator":
                return [], f"(p{position} is not None and p{position} < {int(const)})"
            ns[f"C{number}"] = const
            fact_key = self.facts[position - 2]
            lines = [f"    c = row[{position}]", "    if c is None:", f"        missing = _miss(missing, {fact_key!r})"]
            if op == "between":
                return lines, f"(c is not None and C{number}[0] <= c <= C{number}[1])"
            return lines, f"(c is not None and c {_OPERATORS[op]} C{number})"

        number = 0
        for code, spec in self.eligibility:
            lines, holds = test(spec, number)
            number += 1
            out += lines
            out += [f"    if c is not None and not {holds}:", "        eligible = False",
                    f"        gates = _miss(gates, {code!r})"]
        out.append("    cap = 0")
        for code, rank, conditions in self.caps:
            out.append("    fired = False")
            for spec in conditions:
                lines, holds = test(spec, number)
                number += 1
                out += lines
                out += [f"    if {holds}:", "        fired = True"]
            out += ["    if fired:", f"        gates = _miss(gates, {code!r})", f"        if cap < {rank}:",
                    f"            cap = {rank}"]
        ns["GRADES"] = tuple(self.grades)
        ascending = sorted((band["min"], index) for index, band in enumerate(self.bands))
        ns["MINS"] = tuple(minimum for minimum, _index in ascending)
        ns["RANKS"] = tuple(index for _minimum, index in ascending)
        out += [
            "    gates_json = '[]' if gates is None else _dumps(gates)",
            "    if slow:",
            "        d = {}",
            *["    " + line for line in slow_entries],
            "        breakdown = _dumps(d)",
            "    else:",
            f"        breakdown = TEMPLATE % ({', '.join(values)},)",
            "    if missing is not None:",
            "        return None, '', eligible, breakdown, gates_json, missing",
            f"    score = 0 if total < 0 else ({self.score_max} if total > {self.score_max} else total)",
            "    if eligible:",
            "        rank = RANKS[_bisect(MINS, score) - 1]",
            "        if cap > rank:",
            "            rank = cap",
            "    else:",
            f"        rank = {self.lowest}",
            "    return score, GRADES[rank], eligible, breakdown, gates_json, None",
        ]
        source = "\n".join(out)
        self.source = source
        # The source holds nothing from the definition but validated codes (via repr) and integers.
        exec(compile(source, f"<scorecard {self.customer_type}>", "exec"), ns)  # noqa: S102
        return ns["evaluate_row"]

    # --- evaluation ------------------------------------------------------------------------------

    def evaluate(self, row: Any, averages: dict[str, int] | None = None) -> Outcome:
        """Score one row of facts. `averages` are the local averages (fen) of the customer's org unit."""
        score, grade, eligible, breakdown, gates, missing = self.evaluate_row(row, averages or {})
        return Outcome(score, grade, eligible, json.loads(breakdown), json.loads(gates), missing or [])

    # --- reading the definition back -------------------------------------------------------------

    def band(self, grade: str) -> dict:
        return self.bands[self.rank[grade]]

    def grade_has_line(self, grade: str) -> bool:
        return grade in self.rank and self.band(grade).get("line", True)


def dumps(value: Any) -> str:
    """Compact JSON as stored in the assessment rows (batch and single path alike)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
