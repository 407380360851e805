"""The Keras and PyTorch Lightning callbacks: train, stop, restart from the model's checkpoint,
and check that the batches trained on across the restart equal an uninterrupted run — although
both frameworks read batches ahead of the step they train.

Keras (torch backend) and Lightning are test-only dependencies; these tests are skipped when
they are not installed (tools/install.sh installs them: torch==2.13.0 CPU, lightning, keras).
"""

import os

import numpy as np
import pytest

import inputpipe

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported anywhere

NUM = 400
BATCH = 8


def pipeline():
    ids = np.arange(NUM, dtype=np.float32)
    rng = np.random.default_rng(0)
    x = np.stack([ids, rng.normal(size=NUM).astype(np.float32),
                  rng.normal(size=NUM).astype(np.float32)], axis=1)
    y = (x[:, 1:2] * 2 - x[:, 2:3]).astype(np.float32)
    return inputpipe.Dataset.from_tensor_slices((x, y)).shuffle(seed=5).batch(BATCH, drop_remainder=True)


def reference_ids(n):
    it = iter(pipeline())
    return [next(it)[0][:, 0].astype(int).tolist() for _ in range(n)]


# ---- Keras --------------------------------------------------------------------------------


def test_keras_callback_resumes_exactly(tmp_path):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("keras is configured for another backend")
    from inputpipe.integrations.keras import InputPipelineCheckpoint

    def run(epochs, initial_epoch):
        it = iter(pipeline())
        callback = InputPipelineCheckpoint(it, tmp_path, save_steps=5)
        restored = callback.restore()  # before fit: Keras reads batches early
        read = []

        def batches():
            for x, y in callback.batches():
                read.append(x[:, 0].astype(int).tolist())
                yield x, y

        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(batches(), steps_per_epoch=10, epochs=epochs, initial_epoch=initial_epoch,
                  callbacks=[callback], verbose=0)
        trained = 10 * (epochs - initial_epoch)
        assert len(read) >= trained
        return restored, read[:trained], callback

    restored, first, callback = run(epochs=2, initial_epoch=0)
    assert restored is None
    assert [s for s, _ in callback.hook.checkpoints()] == [0, 5, 10, 15, 20]
    restored, second, callback = run(epochs=4, initial_epoch=2)
    assert restored == 20
    assert first + second == reference_ids(40)
    assert callback.hook.stats["saves_committed"] == 4  # 25, 30, 35, 40


# ---- Lightning ----------------------------------------------------------------------------


def test_lightning_callback_follows_the_model_step(tmp_path):
    torch = pytest.importorskip("torch")
    L = pytest.importorskip("lightning")
    from inputpipe.integrations.lightning import InputPipelineCheckpoint

    class Model(L.LightningModule):  # type: ignore[name-defined]  # L: importorskip's module
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)
            self.seen = []

        def training_step(self, batch, batch_idx):
            x, y = batch
            self.seen.append(x[:, 0].long().tolist())
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    def run(max_steps, ckpt_path=None):
        callback = InputPipelineCheckpoint(iter(pipeline()), tmp_path, save_steps=4, max_to_keep=None)
        model_ckpt = L.pytorch.callbacks.ModelCheckpoint(
            dirpath=tmp_path, filename="model-{step}", every_n_train_steps=4, save_top_k=-1)
        trainer = L.Trainer(max_steps=max_steps, callbacks=[callback, model_ckpt], logger=False,
                            enable_progress_bar=False, enable_model_summary=False,
                            accelerator="cpu", default_root_dir=tmp_path)
        model = Model()
        trainer.fit(model, train_dataloaders=callback.dataloader(), ckpt_path=ckpt_path)
        return model.seen, callback

    first, callback = run(12)
    assert [s for s, _ in callback.hook.checkpoints()] == [0, 4, 8, 12]
    assert sorted(f for f in os.listdir(tmp_path) if f.startswith("model")) == [
        "model-step=12.ckpt", "model-step=4.ckpt", "model-step=8.ckpt"]
    # Restart from the model's step-8 checkpoint (say step 12's was lost): the data follow it.
    second, callback = run(24, ckpt_path=str(tmp_path / "model-step=8.ckpt"))
    assert callback.hook.restored_step == 8
    assert first[:8] + second == reference_ids(24)
