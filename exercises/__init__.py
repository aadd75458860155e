"""The book's exercises and the tools that hand them out and grade them.

* ``python -m exercises.release --out DIR [NN ...]``: the student version (solutions stubbed, hidden tests removed).
* ``python -m exercises.grade [--submission DIR] [--json FILE] [NN ...]``: grade a submission with the full tests.
* ``python -m exercises.selfcheck``: the solutions score full marks; the untouched release, generated attacks
  and the committed wrong submissions (``NN_slug/wrong/``) do not.
* ``python -m exercises.gradescope NN_slug --out DIR``: the Gradescope autograder zip of one chapter.

``exercises/README.md`` describes the format, the threat model of the grader and the rules for test authors.
"""
