"""Neural networks: ``Neuron``, ``Layer``, ``MLP``, as in micrograd's nn.py.

The modules are C++ objects (include/cpp_grad/nn.hpp); these classes wrap
them thinly. Calling a module on a list of numbers or Values builds a graph
of Values, exactly as in micrograd::

    >>> from cpp_grad.nn import MLP
    >>> model = MLP(3, [4, 4, 1])
    >>> out = model([2.0, 3.0, -1.0])        # one output: a single Value
    >>> out.backward()

For data sets, ``MLP.fit`` runs the whole training loop in C++ over numpy
arrays, and ``predict``/``evaluate`` compute outputs without a graph.
"""

from __future__ import annotations

import math
import numbers
import random
import warnings

import numpy as np

from . import _model_file
from ._errors import cpp_errors
from ._loader import CTYPES, cpp
from ._training_loop import load_training_loop
from .value import Value, Value32, _adopt_all, _reach

__all__ = ["Module", "Neuron", "Layer", "MLP", "ACTIVATIONS", "HIDDEN_ACTIVATIONS", "LOSSES", "OPTIMIZERS"]

_VALUE_CLASSES = {"float64": Value, "float32": Value32}

# The names C++'s parsers accept (activation.hpp, loss.hpp, optim.hpp), asked of C++.
ACTIVATIONS = tuple(str(name) for name in cpp.activation_names())
LOSSES = tuple(str(name) for name in cpp.loss_names())
OPTIMIZERS = tuple(str(name) for name in cpp.optimizer_names())
# An MLP's last layer is linear; its hidden layers are not.
HIDDEN_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "linear")


def _check_dtype(dtype) -> str:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in CTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return name


def _check_integer(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {type(value).__name__}: {value!r}")
    return int(value)


_MAX_SIZE = 2**64 - 1  # C++'s std::size_t


def _check_count(value, what: str, minimum: int = 1) -> int:
    value = _check_integer(value, what)
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value}")
    if value > _MAX_SIZE:
        raise ValueError(f"{what} is {value}, more than the largest size (2**64 - 1)")
    return value


def _check_seed(seed) -> int:
    return _check_integer(seed, "seed") % (1 << 64)


def _seed_or_draw(seed) -> int:
    """``seed``, or for None a seed drawn from Python's ``random`` module."""
    return random.getrandbits(64) if seed is None else _check_seed(seed)


def _neuron_kind(activation: str) -> str:
    """As micrograd prints it: ReLUNeuron, LinearNeuron (and TanhNeuron)."""
    return {"relu": "ReLU", "linear": "Linear"}.get(activation, activation.capitalize())


def _check_name(value, what: str) -> str:
    """A name C++ will parse (and refuse, if unknown): it must be a string."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a name (a str), got {type(value).__name__}: {value!r}")
    return value


def _check_choice(value, choices, what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}: expected one of {', '.join(choices)}")
    return value


def check_fit_options(epochs, batch_size, lr, optimizer, loss, momentum, threads):
    """Checks ``MLP.fit``'s training options (the scripts call it before
    loading any data); returns epochs, batch_size, lr (0.0 for the
    optimizer's default), momentum and threads. Each error message starts
    with the option's name."""
    epochs = _check_count(epochs, "epochs", minimum=0)
    batch_size = _check_count(batch_size, "batch_size")
    threads = _check_count(threads, "threads")
    _check_choice(optimizer, OPTIMIZERS, "optimizer")
    _check_choice(loss, LOSSES, "loss")
    if lr is None:
        lr = 0.0  # the optimizer's default
    elif isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum < 1:
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
    return epochs, batch_size, lr, momentum, threads


class Module:
    """The base of every model, as in micrograd: ``parameters()`` lists its
    Values and ``zero_grad()`` sets their grads to 0.

    Subclass it for a module of your own: give it ``parameters()`` (and a
    ``__call__``); ``zero_grad()`` works from ``parameters()`` alone::

        class TwoLayers(Module):
            def __init__(self):
                self.hidden = Layer(2, 4)
                self.out = Neuron(4, nonlin=False)

            def __call__(self, x):
                return self.out(self.hidden(x))

            def parameters(self):
                return self.hidden.parameters() + self.out.parameters()
    """

    def zero_grad(self) -> None:
        """Sets the grad of every parameter to 0."""
        for p in self.parameters():
            p.grad = 0

    def parameters(self) -> list:
        """Every weight and bias, as Values (their ``.grad`` is filled by backward)."""
        return []


class _CppModule(Module):
    """A module whose parameters live in a C++ object (``_cpp``).

    The Python Values of its parameters are made the first time they are
    asked for and then kept for the module's whole life, so ``parameters()``,
    ``n.w``, ``n.b`` and ``_prev`` always give the same objects. A module
    that is part of another (``layer.neurons``, ``mlp.layers``) keeps its
    owner alive.
    """

    _params = None
    _owner = None

    def parameters(self) -> list:
        return list(self._parameter_values())

    def zero_grad(self) -> None:
        self._cpp.zero_grad()

    def _parameter_values(self) -> list:
        if self._params is None:
            handles = self._cpp.parameters()
            self._params = [_reach(handles[i]) for i in range(len(handles))]
        return self._params

    def _ops(self):
        return cpp.py.ModelOps[CTYPES[self.dtype]]

    def __call__(self, x):
        """Applies the module to one sample: any iterable (list, tuple,
        generator, map, 1-d array) of numbers or Values."""
        value_class = _VALUE_CLASSES[self.dtype]
        if isinstance(x, np.ndarray) and x.dtype.kind != "O":
            if x.ndim != 1:
                raise ValueError(f"{self._name()} takes one sample (a 1-d array), got shape {x.shape}")
            if x.dtype.kind not in "fiub":
                raise TypeError(f"{self._name()} takes numbers or Values, got an array of dtype {x.dtype}")
        elif isinstance(x, np.ndarray) and x.ndim != 1:
            raise ValueError(f"{self._name()} takes one sample (a 1-d array), got shape {x.shape}")
        elif isinstance(x, (str, bytes, value_class, numbers.Number)) or not hasattr(x, "__iter__"):
            raise TypeError(
                f"{self._name()} takes an iterable (list, tuple, generator, 1-d array) of numbers or "
                f"Values, got {type(x).__name__}"
            )
        else:
            x = list(x)
        if len(x) != self.nin:
            raise ValueError(f"{self._name()} expects {self.nin} inputs, got {len(x)}")
        if self._params is None:
            # The graph reaches the parameters (through _prev): they must be
            # the module's own Values from the start.
            self._parameter_values()
        ops = cpp.py.ModuleOps[type(self._cpp).__cpp_name__]
        if (
            isinstance(x, np.ndarray)
            and x.dtype.kind in "fiub"
            or all(isinstance(v, numbers.Real) for v in x)
        ):
            numbers_ = np.ascontiguousarray(x, dtype=self.dtype)
            if not np.all(np.isfinite(numbers_)):
                bad = int(np.flatnonzero(~np.isfinite(numbers_))[0])
                raise ValueError(
                    f"{self._name()} inputs must be finite numbers, got NaN or Inf "
                    f"({numbers_[bad]} at input {bad})"
                )
            values = ()
            with cpp_errors():
                out = ops.call_numbers(self._cpp, numbers_, len(numbers_))
        else:
            values = []
            for i, v in enumerate(x):
                if isinstance(v, value_class):
                    values.append(v)
                elif isinstance(v, numbers.Real):
                    values.append(value_class(float(v)))
                else:
                    raise TypeError(
                        f"input {i} of {self._name()} must be a number or a {value_class.__name__} "
                        f"({self.dtype}), got {type(v).__name__}"
                    )
            with cpp_errors():
                out = ops.call_values(self._cpp, values)
        out = _adopt_all(out, values)
        return out[0] if len(out) == 1 else out

    def _name(self) -> str:
        return type(self).__name__


class Neuron(_CppModule):
    """``activation(w . x + b)``: ``nin`` weights and a bias.

    ``nonlin=False`` (micrograd's flag) makes it linear; otherwise
    ``activation`` is ``"relu"`` (default) or ``"tanh"``. Weights start uniform
    in ``+-sqrt(6/nin)`` for ReLU, ``+-sqrt(3/nin)`` otherwise, drawn from
    ``seed``; with ``seed=None`` (default) the seed is drawn from Python's
    ``random`` module, so neurons built one after the other differ and
    ``random.seed(k)`` beforehand reproduces them. ``neuron.seed`` is the seed used.
    """

    def __init__(self, nin, nonlin=True, activation="relu", dtype="float64", seed=None):
        self.nin = _check_count(nin, "nin")
        self.dtype = _check_dtype(dtype)
        self.activation = _check_name(activation, "activation") if nonlin else "linear"
        self.seed = _seed_or_draw(seed)
        with cpp_errors():
            self._cpp = self._ops().neuron(self.nin, self.activation, self.seed)

    @classmethod
    def _part_of(cls, owner, cpp_neuron):
        """The Python face of a neuron inside ``owner`` (a Layer)."""
        neuron = cls.__new__(cls)
        neuron._owner, neuron._cpp = owner, cpp_neuron
        neuron.nin, neuron.dtype, neuron.activation = owner.nin, owner.dtype, owner.activation
        neuron.seed = None  # its weights come from its owner's seed
        return neuron

    @property
    def nonlin(self) -> bool:
        return self.activation != "linear"

    @property
    def w(self) -> list:
        """The weights, as Values (the same objects on every call)."""
        return self._parameter_values()[: self.nin]

    @property
    def b(self):
        """The bias, as a Value."""
        return self._parameter_values()[self.nin]

    def __repr__(self):
        return f"{_neuron_kind(self.activation)}Neuron({self.nin})"


class Layer(_CppModule):
    """``nout`` neurons over the same ``nin`` inputs; one output gives one Value.

    ``layer.neurons`` lists its ``Neuron`` objects. ``seed`` as for ``Neuron``.
    """

    _neurons = None

    def __init__(self, nin, nout, nonlin=True, activation="relu", dtype="float64", seed=None):
        self.nin = _check_count(nin, "nin")
        self.nout = _check_count(nout, "nout")
        self.dtype = _check_dtype(dtype)
        self.activation = _check_name(activation, "activation") if nonlin else "linear"
        self.seed = _seed_or_draw(seed)
        with cpp_errors():
            self._cpp = self._ops().layer(self.nin, self.nout, self.activation, self.seed)

    @classmethod
    def _part_of(cls, owner, cpp_layer):
        """The Python face of a layer inside ``owner`` (an MLP)."""
        layer = cls.__new__(cls)
        layer._owner, layer._cpp = owner, cpp_layer
        layer.nin, layer.nout, layer.dtype = int(cpp_layer.nin()), int(cpp_layer.nout()), owner.dtype
        layer.activation = str(cpp.activation_name(cpp_layer.activation()))
        layer.seed = None  # its weights come from its owner's seed
        return layer

    @property
    def neurons(self) -> list:
        """Its neurons, as ``Neuron`` objects (the same objects on every call)."""
        if self._neurons is None:
            cpp_neurons = self._cpp.neurons()
            self._neurons = [Neuron._part_of(self, cpp_neurons[j]) for j in range(self.nout)]
        return list(self._neurons)

    def __repr__(self):
        kind = _neuron_kind(self.activation)
        shown = ", ".join(f"{kind}Neuron({self.nin})" for _ in range(min(self.nout, 3)))
        more = ", ..." if self.nout > 3 else ""
        return f"Layer of [{shown}{more}] ({self.nout} neurons)"


class MLP(_CppModule):
    """A multi-layer perceptron: ``MLP(784, [30, 10])`` is 784 inputs, a hidden
    layer of 30 and 10 linear outputs (logits).

    Hidden layers use ``activation`` (``"relu"`` or ``"tanh"``); the last layer
    is linear. ``dtype`` is ``"float64"`` (default) or ``"float32"``. ``seed``
    fixes the initial weights; with ``seed=None`` (default) it is drawn from
    Python's ``random`` module, so ``random.seed(k)`` beforehand reproduces the
    model. ``model.seed`` is the seed used (saved with the model);
    ``model.layers`` lists its ``Layer`` objects.
    """

    _layers = None

    def __init__(self, nin, nouts, activation="relu", dtype="float64", seed=None):
        self.nin = _check_count(nin, "nin")
        if isinstance(nouts, numbers.Integral):
            nouts = [nouts]
        if not isinstance(nouts, (list, tuple)) or not nouts:
            raise TypeError(f"nouts must be a non-empty list of layer sizes, got {nouts!r}")
        self.nouts = [_check_count(n, f"layer {i + 1}'s size") for i, n in enumerate(nouts)]
        self.nout = self.nouts[-1]
        self.activation = _check_choice(activation, HIDDEN_ACTIVATIONS, "activation")
        self.dtype = _check_dtype(dtype)
        self.seed = _seed_or_draw(seed)
        with cpp_errors():
            self._cpp = self._ops().mlp(self.nin, self.nouts, self.activation, self.seed)

    @property
    def layers(self) -> list:
        """Its layers, as ``Layer`` objects (the same objects on every call)."""
        if self._layers is None:
            cpp_layers = self._cpp.layers()
            self._layers = [Layer._part_of(self, cpp_layers[i]) for i in range(len(self.nouts))]
        return list(self._layers)

    def _shapes(self) -> list:
        """Each layer's (nin, nout)."""
        sizes = [self.nin, *self.nouts]
        return [(sizes[i], sizes[i + 1]) for i in range(len(self.nouts))]

    def num_parameters(self) -> int:
        return int(self._cpp.num_parameters())

    def __repr__(self):
        sizes = " -> ".join(str(n) for n in [self.nin, *self.nouts])
        return (
            f"MLP({sizes}, activation={self.activation!r}, dtype={self.dtype!r}, "
            f"parameters={self.num_parameters()})"
        )

    # ---- data in bulk --------------------------------------------------------

    def get_weights(self) -> list:
        """Per layer, ``(W, b)`` numpy arrays: W is (nout, nin), b is (nout,)."""
        weights = []
        for layer, (nin, nout) in zip(self._cpp.layers(), self._shapes()):
            w, b = np.empty((nout, nin), dtype=self.dtype), np.empty(nout, dtype=self.dtype)
            self._ops().get_weights(layer, w, b)
            weights.append((w, b))
        return weights

    def set_weights(self, weights) -> None:
        """Sets every layer's ``(W, b)``, shaped as ``get_weights`` returns them."""
        if len(weights) != len(self.nouts):
            raise ValueError(f"expected weights for {len(self.nouts)} layers, got {len(weights)}")
        arrays = []
        for i, ((nin, nout), (w, b)) in enumerate(zip(self._shapes(), weights)):
            w, b = np.ascontiguousarray(w, dtype=self.dtype), np.ascontiguousarray(b, dtype=self.dtype)
            if w.shape != (nout, nin) or b.shape != (nout,):
                raise ValueError(
                    f"layer {i + 1} needs W of shape {(nout, nin)} and b of shape {(nout,)}, "
                    f"got {w.shape} and {b.shape}"
                )
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                bad = int(np.count_nonzero(~np.isfinite(w))) + int(np.count_nonzero(~np.isfinite(b)))
                raise ValueError(f"weights must be finite numbers: layer {i + 1} holds {bad} NaN or Inf")
            arrays.append((w, b))
        for layer, (w, b) in zip(self._cpp.layers(), arrays):
            self._ops().set_weights(layer, w, b)

    # ---- training and inference --------------------------------------------

    def fit(
        self,
        x,
        y,
        epochs=1,
        batch_size=32,
        lr=None,
        optimizer="adam",
        loss="cross_entropy",
        seed=None,
        progress=True,
        validation=None,
        momentum=0.0,
        threads=2,
        x_scale=1.0,
        on_epoch_end=None,
    ) -> list:
        """Trains on ``x`` (n, nin) and integer labels ``y`` (n,) in [0, nout).

        Each step builds one graph per sample, averages the losses of a
        mini-batch of ``batch_size`` shuffled samples, back-propagates and
        steps ``optimizer`` (``"adam"``, default lr 0.003, or ``"sgd"``,
        default lr 0.1, with optional ``momentum``). ``loss`` is
        ``"cross_entropy"`` (softmax on the logits), ``"mse"`` (against one-hot
        targets) or ``"hinge"``. A model with one output is a binary
        classifier: labels 0/1 stand for targets -1/+1 (logistic loss for
        ``"cross_entropy"``), and the predicted class is ``output > 0``.

        ``x`` may be float32, float64 or uint8; features are multiplied by
        ``x_scale`` as they are read (pass uint8 images with
        ``x_scale=1/255`` rather than converting them). ``threads`` splits
        each batch (results depend only on ``seed`` and ``threads``; with
        ``seed=None`` the shuffling's seed is drawn from Python's ``random``
        module, and ``model.fit_seed`` keeps the seed used).
        ``validation=(x_val, y_val)`` adds ``val_accuracy`` to each epoch;
        ``on_epoch_end(record)`` is called with each epoch's record.

        Returns the history: one dict per epoch with ``epoch``, ``loss``,
        ``accuracy``, ``seconds`` (and ``val_accuracy``).
        """
        x, y = self._check_xy(x, y, "fit")
        epochs, batch_size, lr, momentum, threads = check_fit_options(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            loss=loss,
            momentum=momentum,
            threads=threads,
        )
        x_scale = _check_scale(x_scale)
        if validation is not None:
            if not isinstance(validation, (tuple, list)) or len(validation) != 2:
                raise TypeError("validation must be a pair (x_val, y_val)")
            x_val, y_val = self._check_xy(*validation, "validation")

        seed = _seed_or_draw(seed)

        setup = self._training_setup()
        with cpp_errors():
            # Both live only as long as this call: the trainer holds the model
            # until it is freed (Note [One trainer per model] in train.hpp).
            optimizer_ = setup.optimizer(optimizer, self._cpp, float(lr), float(momentum))
            trainer = setup.trainer(self._cpp, optimizer_, loss, batch_size, seed, threads)
        self.fit_seed = seed
        try:
            history = []
            diverged = False
            for epoch in range(1, epochs + 1):
                with _progress_bar(progress, len(x), f"epoch {epoch}/{epochs}") as report:
                    with cpp_errors():
                        result = self._training_loop(x).train_epoch(
                            trainer, x, y, len(x), x.shape[1], x_scale, report.callback
                        )
                    report.reraise()
                if report.non_finite_after is not None and not diverged:
                    diverged = True
                    batches = -(-len(x) // batch_size)
                    warnings.warn(
                        f"fit: the loss became non-finite (NaN or Inf) in epoch {epoch}, batch "
                        f"{-(-report.non_finite_after // batch_size)} of {batches}: training diverged "
                        f"(lr {lr or 'default'} is likely too large); save() will refuse these weights",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                record = {
                    "epoch": epoch,
                    "loss": float(result.loss),
                    "accuracy": float(result.accuracy),
                    "seconds": float(result.seconds),
                }
                if validation is not None:  # checked once above, not again each epoch
                    with cpp_errors():
                        record["val_accuracy"] = float(
                            self._training_loop(x_val).evaluate(
                                self._cpp, x_val, y_val, len(x_val), x_val.shape[1], x_scale
                            )
                        )
                history.append(record)
                if on_epoch_end is not None:
                    on_epoch_end(record)
        finally:
            del trainer, optimizer_  # now, not when a traceback holding this frame goes
        return history

    def predict(self, x, x_scale=1.0) -> np.ndarray:
        """The outputs for every row of ``x``: an array of shape (n, nout)."""
        x = self._check_x(x, "predict")
        out = np.empty((len(x), self.nout), dtype=self.dtype)
        with cpp_errors():
            self._training_loop(x).predict(self._cpp, x, len(x), x.shape[1], _check_scale(x_scale), out)
        return out

    def evaluate(self, x, y, x_scale=1.0) -> float:
        """The fraction of rows whose predicted class equals their label."""
        x, y = self._check_xy(x, y, "evaluate")
        with cpp_errors():
            loop = self._training_loop(x)
            return float(loop.evaluate(self._cpp, x, y, len(x), x.shape[1], _check_scale(x_scale)))

    def _training_setup(self):
        """Makes this model's optimizer and trainer in C++ (cpp_grad/training_loop.hpp)."""
        load_training_loop()
        return cpp.py.TrainingSetup[CTYPES[self.dtype]]

    def _training_loop(self, x: np.ndarray):
        """The C++ training and inference entry points for x's feature type."""
        load_training_loop()
        return cpp.py.TrainingLoop[CTYPES[self.dtype], _FEATURE_CTYPES[x.dtype.name]]

    # ---- saving ----------------------------------------------------------------

    def save(self, path) -> None:
        """Writes the architecture and weights to an ``.npz`` file.

        The file is written beside its destination and renamed over it, so a
        failed save leaves any previous file untouched. A symlink is written
        through to its target; only a regular file is replaced (a folder, FIFO
        or device is an error); an existing file keeps its mode. Weights that
        hold NaN or Inf (a diverged run) are a ``ValueError``: nothing is written.
        """
        spec = {
            "nin": self.nin,
            "nouts": self.nouts,
            "activation": self.activation,
            "dtype": self.dtype,
            "seed": self.seed,
        }
        _model_file.write(path, spec, self.get_weights())

    @classmethod
    def load(cls, path) -> MLP:
        """A model saved by ``save``, with bit-identical weights.

        Every size the file states is checked against the bytes it holds
        before the model is built (see cpp_grad/_model_file.py).
        """
        spec, weights = _model_file.read(path)
        model = cls(spec["nin"], spec["nouts"], spec["activation"], spec["dtype"], spec["seed"])
        model.set_weights(weights)
        return model

    # ---- input checks ------------------------------------------------------------

    def _check_x(self, x, what: str) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{what}: x must hold numbers, got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"{what}: x must be 2-d (rows, {self.nin}), got shape {x.shape}")
        if len(x) == 0:  # cppyy passes no empty array as a pointer
            raise ValueError(f"{what}: x has no rows")
        if x.dtype == np.uint8:
            return np.ascontiguousarray(x)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(self.dtype)
        x = np.ascontiguousarray(x)
        if not np.all(np.isfinite(x)):
            bad = int(np.argwhere(~np.isfinite(x))[0][0])
            raise ValueError(f"{what}: x holds NaN or Inf (first in row {bad})")
        return x

    def _check_xy(self, x, y, what: str):
        x = self._check_x(x, what)
        y = np.asarray(y)
        if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
            raise TypeError(f"{what}: labels must be integers, got dtype {y.dtype}")
        if y.ndim != 1:
            raise ValueError(f"{what}: labels must be 1-d, got shape {y.shape}")
        if len(y) != len(x):
            raise ValueError(f"{what}: {len(x)} rows of x but {len(y)} labels")
        y = np.ascontiguousarray(y, dtype=np.int64)
        try:
            with cpp_errors():  # the sizes and the labels' range, as C++ checks them
                self._training_loop(x).check(self._cpp, x, y, len(x), x.shape[1])
        except ValueError as error:
            raise ValueError(f"{what}: {error}") from None
        return x, y


_FEATURE_CTYPES = {"float32": "float", "float64": "double", "uint8": "uint8_t"}


def _check_scale(x_scale) -> float:
    if isinstance(x_scale, bool) or not isinstance(x_scale, numbers.Real) or not math.isfinite(x_scale):
        raise ValueError(f"x_scale must be a finite number, got {x_scale!r}")
    return float(x_scale)


class _progress_bar:
    """A tqdm bar fed by the C++ loop's per-batch callback (or none).

    The callback returns False to stop the epoch on Ctrl-C; the interrupt is
    raised again once control is back in Python.
    """

    def __init__(self, enabled: bool, total: int, description: str):
        self._bar = None
        self._interrupted = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=description, unit="sample", leave=False)
        self._done = 0
        self.non_finite_after = None  # samples done when the mean loss first became NaN/Inf

    def callback(self, done, mean_loss):
        if self.non_finite_after is None and not math.isfinite(mean_loss):
            self.non_finite_after = int(done)
        try:
            if self._bar is not None:
                self._bar.update(int(done) - self._done)
                self._bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
            self._done = int(done)
            return True
        except BaseException as error:  # noqa: BLE001 - handed back to Python below
            self._interrupted = error
            return False

    def reraise(self):
        if self._interrupted is not None:
            raise self._interrupted

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()
        return False
