"""Turn any greyscale picture of a digit into the canonical 20x20 form the model reads.

Canonical form: float32, shape (20, 20), values in [0, 1], white (1) digit on black (0), the digit's
bounding box scaled so its longer side is 20 pixels (aspect ratio kept) and then shifted so its
centre of mass is as close to the centre as the box allows. Every data source and `predict` use
`canonicalize`, so the model sees the same kind of image in training and in use.

The same steps serve a phone photo and an MNIST image; the expensive ones are skipped when they
would change nothing (a flat background needs no lighting model, a clean one no blur). One module
per step, in the order `pipeline.canonicalize` runs them:

1. `polarity`: dark ink on light paper is flipped so that ink is bright (`vocabulary.Invert`);
2. `background`: a smooth background, estimated on a coarse grid and refined with a grey opening
   just wider than the strokes, is subtracted, which evens out gradients and shadows;
3. `levels`: a light blur when the background is noisy, then a threshold relative to the ink's peak;
4. `digit` (with `components`, the labelling): the digit's ink regions are chosen among the others
   (borders, lines, specks) and stretched so the stroke core is 1, keeping anti-aliased edges grey;
5. `strokes` (with `morphology`): strokes that would come out much thinner or thicker than MNIST's
   are thickened or thinned;
6. `geometry`: the crop is scaled into the 20x20 box and centred by its centre of mass.

`batch.canonicalize_batch` runs stacks of images, with a vectorised twin of these steps for
small clean ones.
"""

from __future__ import annotations

from digitcli.preprocess.batch import canonicalize_batch
from digitcli.preprocess.components import warm_up
from digitcli.preprocess.geometry import fit_and_center
from digitcli.preprocess.pipeline import DigitImage, canonicalize, read_digits

__all__ = [
    "DigitImage",
    "canonicalize",
    "canonicalize_batch",
    "fit_and_center",
    "read_digits",
    "warm_up",
]
