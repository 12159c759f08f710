"""Reading a finished build: the one manifest reader (`manifest`), verify, diff, the document trail,
the generated sample corpus and the HTML/Markdown report."""
