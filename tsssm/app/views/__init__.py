"""The app's pages: the runs overview, one run (with the view of its task), and a
comparison of runs. Each module's ``render`` draws one page or section."""
