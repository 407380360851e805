# Wrote these states (once, with the version before files were identified by content): states in the old (size + mtime) file identity, with the version installed in main.
import os, shutil, tempfile, inputpipe
out = os.getcwd()
lines = "".join(f"line {i:03d}\n" for i in range(40))
csv = "id,name\n" + "".join(f"{i},n{i}\n" for i in range(30))
with open("lines.txt", "w") as f: f.write(lines)
with open("rows.csv", "w") as f: f.write(csv)
MTIME = 1_600_000_000_123_456_789
d = tempfile.mkdtemp()
for n in ("lines.txt", "rows.csv"):
    shutil.copy(n, d)
    os.utime(os.path.join(d, n), ns=(MTIME, MTIME))
def save(ds, steps, name):
    it = iter(ds)
    for _ in range(steps): next(it)
    with open(name, "wb") as f: f.write(it.save())
save(inputpipe.TextLineDataset([os.path.join(d, "lines.txt")]), 5, "text_line-5.state")
save(inputpipe.TextLineDataset([os.path.join(d, "lines.txt")]).shuffle(8, seed=3), 5, "text_line_shuffle-5.state")
save(inputpipe.CsvDataset([os.path.join(d, "rows.csv")], record_defaults=[0, ""], header=True, index=True), 3, "csv_indexed-3.state")
print(d)
