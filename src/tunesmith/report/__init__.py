"""The HTML report of an evaluation folder (``tunesmith evaluate``'s output).

``html.write_html(folder)`` turns the folder's report.json and MIDI files into one
self-contained report.html; ``plots`` draws its figures, ``audio`` renders its players with
FluidSynth, ``sections`` and ``pieces`` write its parts. ``python -m tunesmith.report FOLDER``
rebuilds the page (say, after installing FluidSynth).
"""
