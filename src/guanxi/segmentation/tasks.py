"""Background jobs of segmentation.

The nightly recompute (tiers, sub-markets, product flags) is scheduled with the other nightly jobs
in `guanxi.site.tasks.segments_nightly`, which records each run (`guanxi.site.models.JobRun`).
"""
