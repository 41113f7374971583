"""The study: does the crowd-trained agent imitate its opponents or exploit them?

`cli_study.study_main` runs it end to end; docs/study.md says what each number means.
"""
