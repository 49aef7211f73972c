"""The two programs that run inside the code sandbox, and the data codec between them (stdlib only).

`engine.evaluation.sandbox` copies this file into two separate sandboxes and runs it twice:

- ``candidate``: loads the untrusted solution, then the task's setup code (MBPP's test_setup_code, which
  may build objects of the solution's classes), then serves requests ("call this function with these
  arguments", "give me str() of that object", ...) read from a pipe.
- ``harness``: runs the task's tests. Every name the candidate defined is bound to a proxy (plain values
  are copied); calling it sends a request to the candidate and decodes the answer. The harness alone writes the
  verdict, on its own stdout, which the candidate cannot reach (another process, another PID namespace).

Values cross the pipe as tagged JSON (`encode`/`decode`). Only plain data is rebuilt on the other side: the
exact builtin types plus a few stdlib value types (deque, Counter, OrderedDict, Fraction, Decimal). Anything
else the candidate returns stays in the candidate and travels as a reference; operations on it (str, ==,
len, iteration, attribute access, calls) are answered by the candidate, as they would be in an in-process
harness. So when a function returns plain data, the comparison in ``assert f(x) == y`` happens in the
harness and the candidate cannot influence it. A truth value answered by a candidate object (its
``__eq__``, ``__bool__``, ordering or ``__contains__``) could be forged, so by default a test that relied
on one fails with that reason (``trust_candidate_objects`` lifts this); the harness counts such answers
(``remote_answers``).

Decoding never calls code of the sender and never unpickles.
"""

from __future__ import annotations

import base64
import builtins
import collections
import decimal
import fractions
import json
import os
import struct
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
MAX_FRAME = 64 * 1024 * 1024
MAX_DEPTH = 200
_EXC = {name: obj for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, Exception)}


class CodecError(Exception):
    """A value cannot cross the pipe (unsupported type, too deep, malformed frame)."""


# -- framing ------------------------------------------------------------------------------------------------
def send(fd: int, msg) -> None:
    data = json.dumps(msg, allow_nan=False, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise CodecError(f"message of {len(data)} bytes is over the {MAX_FRAME} byte limit")
    buf = struct.pack(">I", len(data)) + data
    while buf:
        n = os.write(fd, buf)
        buf = buf[n:]


def _read_exact(fd: int, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            raise EOFError("the other side closed the pipe")
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def recv(fd: int):
    (n,) = struct.unpack(">I", _read_exact(fd, 4))
    if n > MAX_FRAME:
        raise CodecError(f"frame of {n} bytes is over the {MAX_FRAME} byte limit")
    try:
        return json.loads(_read_exact(fd, n).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CodecError(f"malformed frame: {e}") from None


# -- values -------------------------------------------------------------------------------------------------
def _float(x: float):
    if x != x or x in (float("inf"), float("-inf")):
        return {"t": "float", "v": repr(x)}
    return x


def encode(obj, ref=None, depth: int = 0):
    """Tagged JSON for plain data; `ref(obj)` (returning a reference dict) for anything else, or CodecError."""
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    t = type(obj)
    d = depth + 1
    if obj is None or t is bool or t is str:
        return obj
    if t is int:
        if abs(obj) >= 1 << 63:
            return {"t": "bigint", "v": format(obj, "x")}
        return obj
    if t is float:
        return _float(obj)
    if t is list:
        return [encode(x, ref, d) for x in obj]
    if t in (tuple, set, frozenset, collections.deque):
        items = sorted(obj, key=repr) if t in (set, frozenset) else obj
        return {"t": t.__name__, "v": [encode(x, ref, d) for x in items]}
    if t in (dict, collections.OrderedDict, collections.Counter, collections.defaultdict):
        name = "dict" if t is collections.defaultdict else t.__name__
        return {"t": name, "v": [[encode(k, ref, d), encode(v, ref, d)] for k, v in obj.items()]}
    if t is complex:
        return {"t": "complex", "v": [_float(obj.real), _float(obj.imag)]}
    if t in (bytes, bytearray):
        return {"t": t.__name__, "v": base64.b64encode(obj).decode("ascii")}
    if t is fractions.Fraction:
        return {"t": "Fraction", "v": [encode(obj.numerator), encode(obj.denominator)]}
    if t is decimal.Decimal:
        return {"t": "Decimal", "v": str(obj)}
    if t is range:
        return {"t": "range", "v": [obj.start, obj.stop, obj.step]}
    if obj is Ellipsis:
        return {"t": "Ellipsis"}
    if t is type and getattr(builtins, obj.__name__, None) is obj:
        return {"t": "type", "v": obj.__name__}
    if ref is not None:
        return ref(obj)
    raise CodecError(f"a {t.__name__} cannot be passed across the sandbox")


def _num(v):
    if type(v) is dict and v.get("t") == "bigint":
        return int(v["v"], 16)
    if type(v) is dict and v.get("t") == "float":
        return float(v["v"])
    if type(v) in (int, float):
        return v
    raise CodecError("malformed number")


def decode(v, deref=None, depth: int = 0):
    """Rebuild a value from `encode`'s output. References go to `deref`; nothing of the sender runs."""
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    d = depth + 1
    t = type(v)
    if v is None or t in (bool, str, int, float):
        return v
    if t is list:
        return [decode(x, deref, d) for x in v]
    if t is not dict or not isinstance(v.get("t"), str):
        raise CodecError("malformed value")
    tag, body = v["t"], v.get("v")
    try:
        if tag in ("bigint", "float"):
            return _num(v)
        if tag in ("tuple", "set", "frozenset", "deque"):
            items = [decode(x, deref, d) for x in body]
            return {"tuple": tuple, "set": set, "frozenset": frozenset, "deque": collections.deque}[tag](items)
        if tag in ("dict", "OrderedDict", "Counter"):
            cls = {"dict": dict, "OrderedDict": collections.OrderedDict, "Counter": collections.Counter}[tag]
            out = cls()
            for k, x in body:
                out[decode(k, deref, d)] = decode(x, deref, d)
            return out
        if tag == "complex":
            return complex(_num(body[0]), _num(body[1]))
        if tag in ("bytes", "bytearray"):
            raw = base64.b64decode(body.encode("ascii"), validate=True)
            return raw if tag == "bytes" else bytearray(raw)
        if tag == "Fraction":
            return fractions.Fraction(_num(body[0]), _num(body[1]))
        if tag == "Decimal":
            return decimal.Decimal(str(body))
        if tag == "range":
            return range(int(body[0]), int(body[1]), int(body[2]))
        if tag == "Ellipsis":
            return Ellipsis
        if tag == "type" and isinstance(getattr(builtins, str(body), None), type):
            return getattr(builtins, str(body))
        if tag == "ref" and deref is not None:
            return deref(v)
    except CodecError:
        raise
    except Exception as e:  # TypeError (unhashable key), ValueError, binascii.Error, ...
        raise CodecError(f"malformed {tag}: {type(e).__name__}") from None
    raise CodecError(f"unknown value tag {tag!r}")


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]


# -- the candidate side -------------------------------------------------------------------------------------
_UNARY = {
    "str": str,
    "repr": repr,
    "len": len,
    "bool": bool,
    "hash": hash,
    "int": int,
    "float": float,
    "list": list,
    "abs": abs,
    "neg": lambda x: -x,
    "index": lambda x: x.__index__(),
}
_BINARY = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "contains": lambda a, b: b in a,
    "getitem": lambda a, b: a[b],
    "add": lambda a, b: a + b,
    "radd": lambda a, b: b + a,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "rmul": lambda a, b: b * a,
    "truediv": lambda a, b: a / b,
    "mod": lambda a, b: a % b,
    "round": lambda a, b: round(a, b),
}


def candidate_main(rfd: int, wfd: int) -> None:
    objects: dict[int, object] = {}

    def ref(obj):
        i = len(objects) + 1
        objects[i] = obj
        return {"t": "ref", "id": i, "type": type(obj).__name__, "callable": callable(obj)}

    def deref(v):
        return objects[v["id"]]

    ns = {"__name__": "__main__", "__builtins__": builtins}
    try:
        for name in ("solution.py", "setup.py"):  # MBPP order: the setup may use the code's classes
            with open(os.path.join(_HERE, name), encoding="utf-8") as f:
                src = f.read()
            if src.strip():
                exec(compile(src, name, "exec"), ns)
    except BaseException as e:  # the load failed: say why, then stop
        send(wfd, {"error": _err(e)})
        return
    names = {}
    for k, val in list(ns.items()):
        if k.startswith("__"):
            continue
        if type(val) is type(sys):
            names[k] = {"t": "module", "v": val.__name__}
            continue
        try:
            names[k] = encode(val, ref)
        except CodecError:
            names[k] = ref(val)
    send(wfd, {"names": names})
    while True:
        try:
            req = recv(rfd)
        except EOFError:
            return
        try:
            op = req["op"]
            target = objects[req["id"]]
            args = [decode(a, deref) for a in req.get("args", [])]
            if op == "call":
                kwargs = {k: decode(a, deref) for k, a in req.get("kwargs", {}).items()}
                out = target(*args, **kwargs)
            elif op == "getattr":
                out = getattr(target, args[0])
            elif op == "setattr":
                out = setattr(target, args[0], args[1])
            elif op == "unary":
                out = _UNARY[req["fn"]](target)
            elif op == "binary":
                out = _BINARY[req["fn"]](target, args[0])
            elif op == "next":
                out = next(target)
            elif op == "iter":
                out = iter(target)
            else:
                raise CodecError(f"unknown operation {op!r}")
            ans = {"ok": encode(out, ref)}
        except StopIteration:
            ans = {"stop": True}
        except BaseException as e:
            if isinstance(e, (SystemExit, KeyboardInterrupt)):
                ans = {"raise": ["RuntimeError", f"the candidate raised {type(e).__name__}"]}
            else:
                ans = {"raise": [type(e).__name__, str(e)[:500]]}
        send(wfd, ans)


# -- the harness side ---------------------------------------------------------------------------------------
class RemoteError(Exception):
    """The candidate raised an exception that is not a builtin one (its type name and message)."""


class _Link:
    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd
        self.remote_answers = 0  # truth values and comparisons answered by candidate objects

    def ask(self, op: str, rid: int, *args, fn: str | None = None, kwargs: dict | None = None, judged=False):
        req = {"op": op, "id": rid, "args": [encode(a, _ref_of) for a in args]}
        if fn:
            req["fn"] = fn
        if kwargs:
            req["kwargs"] = {k: encode(a, _ref_of) for k, a in kwargs.items()}
        send(self.wfd, req)
        ans = recv(self.rfd)
        if type(ans) is not dict:
            raise CodecError("malformed answer")
        if ans.get("stop"):
            raise StopIteration
        if "raise" in ans:
            name, msg = (list(ans["raise"]) + ["", ""])[:2]
            cls = _EXC.get(str(name))
            raise cls(str(msg)) if cls else RemoteError(f"{name}: {msg}")
        if judged:
            self.remote_answers += 1
        return decode(ans.get("ok"), self.proxy)

    def proxy(self, v):
        return Remote(self, int(v["id"]), str(v.get("type", "object")))


def _ref_of(obj):
    if type(obj) is Remote:
        return {"t": "ref", "id": obj._rid}
    raise CodecError(f"a {type(obj).__name__} from the tests cannot be passed to the candidate's code")


class Remote:
    """An object that lives in the candidate; each operation is a request answered by the candidate."""

    __slots__ = ("_link", "_rid", "_type")

    def __init__(self, link, rid, type_name):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_rid", rid)
        object.__setattr__(self, "_type", type_name)

    def _ask(self, op, *args, **kw):
        return self._link.ask(op, self._rid, *args, **kw)

    def __call__(self, *args, **kwargs):
        return self._ask("call", *args, kwargs=kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name)

    def __setattr__(self, name, value):
        self._ask("setattr", name, value)

    def __repr__(self):
        return self._ask("unary", fn="repr")

    def __str__(self):
        return self._ask("unary", fn="str")

    def __len__(self):
        return self._ask("unary", fn="len")

    def __bool__(self):
        return bool(self._ask("unary", fn="bool", judged=True))

    def __hash__(self):
        return self._ask("unary", fn="hash")

    def __int__(self):
        return self._ask("unary", fn="int")

    def __float__(self):
        return self._ask("unary", fn="float")

    def __index__(self):
        return self._ask("unary", fn="index")

    def __abs__(self):
        return self._ask("unary", fn="abs")

    def __neg__(self):
        return self._ask("unary", fn="neg")

    def __iter__(self):
        it = self._ask("iter")
        if type(it) is not Remote:
            return iter(it)
        return _RemoteIter(it)

    def __next__(self):
        return self._ask("next")

    def __contains__(self, x):
        return bool(self._ask("binary", x, fn="contains", judged=True))

    def __getitem__(self, k):
        return self._ask("binary", k, fn="getitem")

    def __round__(self, n=None):
        return self._ask("binary", n, fn="round")


def _binary(fn, judged=False):
    def method(self, other):
        try:
            return self._ask("binary", other, fn=fn, judged=judged)
        except CodecError:
            return NotImplemented

    method.__name__ = f"__{fn}__"
    return method


for _fn, _judged in (
    ("eq", True),
    ("ne", True),
    ("lt", True),
    ("le", True),
    ("gt", True),
    ("ge", True),
    ("add", False),
    ("radd", False),
    ("sub", False),
    ("mul", False),
    ("rmul", False),
    ("truediv", False),
    ("mod", False),
):
    setattr(Remote, f"__{_fn}__", _binary(_fn, _judged))


class _RemoteIter:
    def __init__(self, remote):
        self.remote = remote

    def __iter__(self):
        return self

    def __next__(self):
        return self.remote._ask("next")


def harness_main(rfd: int, wfd: int) -> None:
    """Run the tests against the candidate; print the verdict as one JSON line on stdout."""
    out = {"error": None, "tests": [], "remote_answers": 0}
    link = _Link(rfd, wfd)

    def finish():
        out["remote_answers"] = link.remote_answers
        sys.stdout.write("\n" + json.dumps(out) + "\n")
        sys.stdout.flush()

    with open(os.path.join(_HERE, "tests.json"), encoding="utf-8") as f:
        spec = json.load(f)
    tests, trust_objects = spec["tests"], spec.get("trust_candidate_objects", False)
    ns = {"__name__": "__main__", "__builtins__": builtins}
    try:
        hello = recv(rfd)
        if type(hello) is not dict:
            raise CodecError("malformed hello")
        if hello.get("error") is not None:
            out["error"] = str(hello["error"])[:500]
            return finish()
        for name, v in dict(hello.get("names", {})).items():
            if type(v) is dict and v.get("t") == "module":
                mod = str(v.get("v"))
                if mod in getattr(sys, "stdlib_module_names", ()):
                    ns[str(name)] = __import__(mod)
                continue
            ns[str(name)] = decode(v, link.proxy)
    except EOFError:
        out["error"] = "the candidate exited while loading its code"
        return finish()
    except BaseException as e:
        out["error"] = "the candidate sent a malformed answer: " + _err(e)
        return finish()
    for t in tests:
        before = link.remote_answers
        try:
            exec(compile(t, "<test>", "exec"), ns)
            if link.remote_answers > before and not trust_objects:
                raise AssertionError(
                    "the test's outcome was decided by the candidate's own object (its __eq__, "
                    "__bool__, ordering or __contains__), which the harness does not trust"
                )
            out["tests"].append({"ok": True, "error": None})
        except AssertionError as e:
            out["tests"].append({"ok": False, "error": "AssertionError" + (f": {e}" if str(e) else "")})
        except EOFError:
            out["tests"].append({"ok": False, "error": "the candidate exited during the test"})
        except BaseException as e:
            out["tests"].append({"ok": False, "error": _err(e)})
    return finish()


if __name__ == "__main__":
    role, r, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.setrecursionlimit(3000)
    (candidate_main if role == "candidate" else harness_main)(r, w)
