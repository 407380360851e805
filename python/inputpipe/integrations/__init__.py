"""Training-framework callbacks around CheckpointInputPipelineHook.

    inputpipe.integrations.keras.InputPipelineCheckpoint       (a keras.callbacks.Callback)
    inputpipe.integrations.lightning.InputPipelineCheckpoint   (a lightning Callback)

Each module imports its framework only when used; neither framework is a dependency of
inputpipe. Frameworks read batches ahead of the step they train (Keras peeks at the first
batches, Lightning prefetches one), so both callbacks feed the framework through
`callback.batches()`, which records the iterator's state as each batch is read: a save then
holds the position of the last batch actually trained on, not of the last one read.
"""
