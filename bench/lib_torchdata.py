"""torchdata's StatefulDataLoader (a drop-in torch DataLoader with state_dict/load_state_dict),
written the way PyTorch's docs recommend: a map-style Dataset whose __getitem__ does the per-record
work, shuffle=True (a RandomSampler: a global shuffle), num_workers worker processes, the default
collate. Checkpoints: StatefulDataLoader.state_dict(), pickled.

What it cannot express, and why (these rows say so in the tables):
- a shuffle buffer: the sampler shuffles indices globally; there is no buffered shuffle, so the
  state at buffers 1k/10k/100k is not measurable. Workload c runs with the global shuffle instead.
- TFRecord: torchdata has no TFRecord reader (the TFRecordLoader datapipe was removed with the
  datapipes in 0.10), nor does torch.
- CSV: there is no CSV reader either; workload c uses common.CsvLines, a user-written source.
"""

import pickle

import torch
from torch.utils.data import Dataset
from torchdata.stateful_dataloader import StatefulDataLoader

import common

NAME = "torchdata"


class ArrayDataset(Dataset):
    def __init__(self, x, ids, kind):
        self.x, self.ids, self.kind = x, ids, kind

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        if self.kind == "native":
            return torch.from_numpy(self.x[i]) * 2.0 + 1.0, self.ids[i]
        return torch.from_numpy(common.py_fn(self.x[i])), self.ids[i]


class CsvDataset(Dataset):
    def __init__(self, path):
        self.lines = common.CsvLines(path)

    def __len__(self):
        return len(self.lines)

    def __getitem__(self, i):
        return torch.from_numpy(self.lines[i])


class Pipeline(common.Pipeline):
    def __init__(self, wl, shuffle, cfg):
        super().__init__(wl, shuffle, cfg)
        self._notes = [f"{self.threads} worker processes"]
        src = wl["source"]
        if src == "tfrecord":
            raise common.NotExpressible(
                "no TFRecord reader in torchdata or torch (TFRecordLoader was removed with the "
                "datapipes in torchdata 0.10)")
        if isinstance(shuffle, int):
            if cfg.get("role") != "main":
                raise common.NotExpressible(
                    "no shuffle buffer: StatefulDataLoader shuffles with a global RandomSampler")
            self._notes.append(f"global RandomSampler in place of shuffle({shuffle})")
        if src == "array":
            x, ids = common.make_array(self.n)
            self.dataset = ArrayDataset(x, ids, wl["map"])
            if wl["map"] == "native":
                self._notes.append("torch op per record in __getitem__")
        elif src == "csv":
            self.dataset = CsvDataset(common.csv_path(cfg["data_dir"], self.n))
            self._notes.append("no CSV reader: user-written line source")
        else:
            raise ValueError(src)
        self.loader = self._loader()

    def note(self):
        return "; ".join(self._notes)

    def _loader(self):
        return StatefulDataLoader(self.dataset, batch_size=self.wl["batch"],
                                  shuffle=bool(self.shuffle), num_workers=self.threads,
                                  generator=torch.Generator().manual_seed(common.SEED))

    def iterator(self):
        return iter(self.loader)

    def _numpy(self, ids):
        return ids.numpy()

    def save(self, it):
        return pickle.dumps(self.loader.state_dict())

    def restore(self, blob):
        self.loader.load_state_dict(pickle.loads(blob))
        return iter(self.loader)

    def close(self, it):
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown:
            shutdown()


def build(wl, shuffle, cfg):
    return Pipeline(wl, shuffle, cfg)


def versions():
    import torchdata
    return {"torch": torch.__version__, "torchdata": torchdata.__version__}
