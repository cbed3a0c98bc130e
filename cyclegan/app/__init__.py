"""A local web page to try a trained model (``python app.py ckpt=...``, ``make app``).

- :mod:`~cyclegan.app.service` does the work without the web: the checkpoints offered, and
  each upload stylized by :func:`cyclegan.inference.predict`, as ``predict.py`` would.
- :mod:`~cyclegan.app.ui` is the Gradio page and server (imports ``gradio``, from the ``app``
  extra).
"""

from cyclegan.app.service import StyleResult, StyleService, Stylized, write_examples

__all__ = ["StyleResult", "StyleService", "Stylized", "write_examples"]
