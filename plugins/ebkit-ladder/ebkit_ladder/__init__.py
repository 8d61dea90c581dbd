"""ebkit plugin reserved for Ladder-network energies (EBGAN-LN); it registers nothing yet.

The ``ladder`` energy (Rasmus et al. 2015, as used by EBGAN-LN in Zhao et al. 2017,
§4.2 and App. D) arrives in a later issue: a bottom-layer-cost Ladder network whose input
reconstruction cost C = λ₀/d · ‖x − ẑ⁽⁰⁾‖² is the energy and whose clean path gives class
logits for semi-supervised training. Until then this module defines no hook
implementations, so installing the distribution lists the plugin without adding components.
"""

from __future__ import annotations
