"""Object storage: the ``ObjectStore`` Protocol (:mod:`.store`), a local directory
(:mod:`.local_store`, the embedded mode) and an S3 bucket (:mod:`.s3_store`); and the graph
objects specs name, fetched before their graphs are built (:mod:`.graph_objects`)."""
