"""digitcli's shared words: the image sizes, and the values of every choice a user can make.

The single home of these names: the CLI builds its options from these enums and the work modules
take the same enums, so a choice is spelled once. Standard library only, because the CLI imports
this module at start-up (`digitcli --help` must not pay for NumPy or pydantic).
"""

from __future__ import annotations

from enum import Enum

IMAGE_SIDE = 20  # the canonical image is 20x20 (see preprocess.canonicalize)
IMAGE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE)
INPUT_SIZE = IMAGE_SIDE * IMAGE_SIDE  # what the network reads: the image flattened row-major
NUM_CLASSES = 10  # the digits 0-9
# predict marks answers whose calibrated confidence is below this as unsure (--min-confidence);
# chosen by measurement, see docs/accuracy.md ("Unsure answers and non-digits").
DEFAULT_MIN_CONFIDENCE = 0.4
# The default largest picture, width x height (predict --max-pixels; serve's ceiling, its default is
# lower). 200 megapixels reads every phone photo so far (the largest sensors give 16320x12240, 199.8
# MP; 50 MP ones 8160x6144) while a decompression bomb (a few KB that would expand to gigabytes) is
# refused before decoding. Decoding peaks near 8 bytes per pixel (RGB, grey, float32): 1.6 GB here.
MAX_IMAGE_PIXELS = 200_000_000


class DataSource(str, Enum):
    """Where training images come from (config `data.source`)."""

    digits = "digits"  # scikit-learn's bundled 8x8 digits: offline, the default
    mnist = "mnist"  # a local Keras-layout .npz, or Keras's download when no path is given
    npz = "npz"  # any Keras-layout .npz (x_train, y_train, x_test, y_test): USPS, optdigits, ...
    npy = "npy"  # the course lab's X.npy / y.npy
    folder = "folder"  # image files in subfolders named 0..9


class PixelOrder(str, Enum):
    """How each 400-value row of an N x 400 array is laid out (config `data.pixel_order`,
    `predict --pixel-order`)."""

    column_major = "column_major"  # the lab's X.npy (MATLAB/Octave order): column by column
    row_major = "row_major"


class Activation(str, Enum):
    """A dense or conv2d layer's activation (config `model.layers.N.activation`)."""

    relu = "relu"
    linear = "linear"
    sigmoid = "sigmoid"
    tanh = "tanh"


class Padding(str, Enum):
    """How a conv2d layer treats the image's border (config `model.layers.N.padding`)."""

    valid = "valid"  # no padding: the output shrinks by kernel_size - 1
    same = "same"  # zero padding so that the output is ceil(input / strides) wide


class TrainingEngine(str, Enum):
    """How training runs (config `train.engine`)."""

    fast = "fast"  # whole epochs inside one compiled tf.function: ~10x faster on CPU
    keras = "keras"  # plain model.fit: the reference


class InferenceEngine(str, Enum):
    """Which forward pass scores images (`predict --engine`, `evaluate --engine`)."""

    numpy = "numpy"  # forward pass in NumPy from weights.npz: no TensorFlow import
    tf = "tf"  # the saved Keras model (model.keras)


class Invert(str, Enum):
    """An image's polarity (`predict --invert`, preprocess.canonicalize)."""

    auto = "auto"  # guess: the border's tone is background, or (photos) the ink is the outlier
    yes = "yes"  # dark ink on light paper: flip it
    no = "no"  # already light strokes on dark


class SplitName(str, Enum):
    """A data split (`evaluate --split`)."""

    test = "test"
    validation = "validation"
    train = "train"


class PlotFormat(str, Enum):
    """The image format of figure files (`plot --format`)."""

    png = "png"
    svg = "svg"
    pdf = "pdf"


class ExportFormat(str, Enum):
    """What `export --format` writes."""

    savedmodel = "savedmodel"  # a folder: TensorFlow Serving, TF.js converter, tf.saved_model.load
    tflite = "tflite"  # one .tflite file: phones and microcontrollers (LiteRT)
    onnx = "onnx"  # one .onnx file: onnxruntime and most non-TensorFlow runtimes


class PredictFormat(str, Enum):
    """How `predict --format` writes its records on stdout."""

    table = "table"  # a Rich table (the default on a terminal)
    plain = "plain"  # path<TAB>digit<TAB>confidence (the default when piped)
    csv = "csv"
    json = "json"  # one array
    jsonl = "jsonl"  # one object per line


class OptimizerName(str, Enum):
    """The training optimizer (config `train.optimizer`)."""

    adam = "adam"  # the reference recipe
    adamw = "adamw"  # Adam with decoupled weight decay (Loshchilov & Hutter)
    sgd = "sgd"  # stochastic gradient descent with momentum


class ScheduleKind(str, Enum):
    """How the learning rate changes during training (config `train.schedule.kind`)."""

    constant = "constant"  # the reference recipe
    step = "step"  # multiplied by `factor` every `every_epochs` epochs
    cosine = "cosine"  # half a cosine from the learning rate down to `min_learning_rate`


class Monitor(str, Enum):
    """The validation value early stopping watches (config `train.early_stopping.monitor`)."""

    val_loss = "val_loss"  # lower is better
    val_accuracy = "val_accuracy"  # higher is better


class Metric(str, Enum):
    """What a sweep trial scores (spec `metric`): a split's accuracy or loss from metrics.json."""

    validation_accuracy = "validation.accuracy"
    validation_loss = "validation.loss"
    test_accuracy = "test.accuracy"
    test_loss = "test.loss"

    @property
    def split_name(self) -> str:
        return self.value.partition(".")[0]

    @property
    def score(self) -> str:
        """accuracy or loss"""
        return self.value.partition(".")[2]

    @property
    def epoch_key(self) -> str:
        """What each epoch reports to the pruner: the validation value of the same kind."""
        return "val_accuracy" if self.score == "accuracy" else "val_loss"


class Direction(str, Enum):
    """Whether a sweep maximizes or minimizes its metric (spec `direction`)."""

    maximize = "maximize"
    minimize = "minimize"


class PrunerKind(str, Enum):
    """How a sweep stops hopeless trials early (spec `pruner.kind`)."""

    median = "median"  # stop a trial whose epoch value is worse than the median of earlier trials'
    none = "none"
