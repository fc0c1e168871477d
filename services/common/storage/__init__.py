"""Object storage: the ``ObjectStore`` Protocol (:mod:`.store`), a local directory
(:mod:`.local_store`, the embedded mode) and an S3 bucket (:mod:`.s3_store`)."""
