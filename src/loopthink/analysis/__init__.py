"""What a trained run does: accuracy over (steps x difficulty), the frontier, comparisons, sweeps
over seeds, latent dynamics and adaptive halting, with the statistics they share (:mod:`.stats`).

Functions here take models, records and run directories and return numbers (dicts, arrays, text
tables); they parse no arguments and draw no pictures (that is :mod:`loopthink.plots`).
"""
