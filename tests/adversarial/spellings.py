"""Hypothesis strategies for the spellings of one request: each draw is (text, canonical),
where `canonical` says whether the text must be read as the one canonical request (same key,
no new origin request) or refused (400 at the edge, no origin request)."""

from __future__ import annotations

from hypothesis import strategies as st

SAFE = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=0, max_size=8)
JUNK_NAME = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


def _encode(c: str, upper: bool) -> str:
    h = f"%{ord(c):02x}"
    return h.upper() if upper else h


@st.composite
def number(draw: st.DrawFn, n: int, digits: int = 12) -> tuple[str, bool]:
    """`n` as a query value: canonical, or one of the spellings int() or float() would read
    as n (or that a cache would key apart)."""
    s = str(n)
    kind = draw(st.sampled_from([
        "canonical", "zeros", "plus", "plus_encoded", "space_before", "space_after",
        "dot_zero", "exponent", "underscore", "digit_encoded", "arabic", "overlong", "hex",
        "empty", "minus"]))
    if kind == "canonical":
        return s, True
    spelled = {
        "zeros": "0" * draw(st.integers(1, 3)) + s,
        "plus": "+" + s,  # a form-encoded space, or a sign
        "plus_encoded": "%2B" + s,
        "space_before": draw(st.sampled_from(["%20", "%09", "+"])) + s,
        "space_after": s + draw(st.sampled_from(["%20", "%09", "+", "%0A"])),
        "dot_zero": s + "." + "0" * draw(st.integers(1, 2)),
        "exponent": s + "e0",
        "underscore": (s[0] + "_" + s[1:]) if len(s) > 1 else "0_" + s,
        "digit_encoded": _encode(s[0], draw(st.booleans())) + s[1:],
        "arabic": "%D9%A" + s[-1] if s else "%D9%A0",
        "overlong": "1" * (digits + 1),
        "hex": hex(n),
        "empty": "",
        "minus": "-" + s,
    }[kind]
    return spelled, False


@st.composite
def name(draw: st.DrawFn, exact: str) -> tuple[str, bool]:
    """A query name: exact, another case, or one character percent-encoded."""
    kind = draw(st.sampled_from(["exact", "exact", "case", "encoded"]))
    if kind == "exact":
        return exact, True
    if kind == "case":
        flips = draw(st.lists(st.booleans(), min_size=len(exact), max_size=len(exact)))
        out = "".join(c.swapcase() if f else c for c, f in zip(exact, flips, strict=True))
        return (out, True) if out == exact else (out, False)
    i = draw(st.integers(0, len(exact) - 1))
    return exact[:i] + _encode(exact[i], draw(st.booleans())) + exact[i + 1:], False


@st.composite
def directive_query(draw: st.DrawFn, msn: int, part: int | None,
                    skip: str | None) -> tuple[str, str, bool]:
    """(canonical query, a spelling of it, whether the spelling must be read as it)."""
    wanted = [("_HLS_msn", msn)] + ([("_HLS_part", part)] if part is not None else []) \
        + ([("_HLS_skip", skip)] if skip is not None else [])
    canonical = "&".join(f"{k}={v}" for k, v in wanted)
    ok = True
    pairs = []
    respell = draw(st.booleans())  # half the draws spell every directive exactly
    for key, value in wanted:
        if not respell:
            pairs.append(f"{key}={value}")
            continue
        spelled_name, good_name = draw(name(key))
        if isinstance(value, int):
            spelled_value, good_value = draw(number(value, 12 if key == "_HLS_msn" else 6))
        else:
            spelled_value, good_value = draw(st.sampled_from(
                [(value, True), (value.lower(), value == value.lower()), (value + "%20", False),
                 ("%59ES" if value == "YES" else "v%32", False)]))
        ok = ok and good_name and good_value
        pairs.append(f"{spelled_name}={spelled_value}")
    # structure: order never matters; names the edge does not read are dropped (not keyed,
    # never forwarded); empty pieces are nothing; a directive twice is refused
    pairs = draw(st.permutations(pairs))
    for _ in range(draw(st.integers(0, 2))):
        junk = f"{draw(JUNK_NAME)}={draw(SAFE)}"
        pairs.insert(draw(st.integers(0, len(pairs))), junk)
    if draw(st.booleans()):
        pairs.insert(draw(st.integers(0, len(pairs))), "")
    if draw(st.integers(0, 5)) == 0:
        again = draw(st.sampled_from([p for p in pairs if p.lower().startswith("_hls")] or
                                     ["_HLS_msn=0"]))
        pairs.append(again)
        ok = False
    return canonical, "&".join(pairs), ok


@st.composite
def path(draw: st.DrawFn, template: str, numbers: tuple[int, ...]) -> tuple[str, bool]:
    """A spelling of a path tail like `part/{}.{}.m4s` with its numbers: nginx's own
    normalisation (percent-decoding, `//`, `./`, `x/../`) must map it to the one key; a
    number spelled otherwise, another case or another name is refused."""
    canonical = template.format(*numbers)
    kind = draw(st.sampled_from(["same", "encoded", "slashes", "dot", "dotdot", "number",
                                 "case", "suffix"]))
    if kind == "same":
        return canonical, True
    if kind == "encoded":
        i = draw(st.integers(0, len(canonical) - 1))
        return canonical[:i] + _encode(canonical[i], draw(st.booleans())) + canonical[i + 1:], \
            True
    if kind in ("slashes", "dot", "dotdot"):
        head, _, tail = canonical.partition("/")
        if not tail:
            return canonical, True
        middle = {"slashes": "//", "dot": "/./", "dotdot": "/../" + head + "/"}[kind]
        return head + middle + tail, True
    if kind == "number" and not numbers:
        kind = "case"
    if kind == "number":
        i = draw(st.integers(0, len(numbers) - 1))
        n = str(numbers[i])
        spelled = draw(st.sampled_from(["0" + n, "00" + n, "+" + n, "%2B" + n, n + "%20",
                                        "%20" + n, n + ".0", "-" + n]))
        return template.format(*(spelled if j == i else v for j, v in enumerate(numbers))), \
            False
    if kind == "case":
        letters = [i for i, c in enumerate(canonical) if c.isalpha()]
        i = draw(st.sampled_from(letters))
        return canonical[:i] + canonical[i].swapcase() + canonical[i + 1:], False
    return canonical + draw(st.sampled_from([".bak", "~", "%00", "/", ".", "x"])), False
