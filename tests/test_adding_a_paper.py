"""The README's recipe for adding a paper works and touches nothing outside the paper's home but the one
include line and the `papers` entry: a toy paper (tests/data/toy_paper/) added to a copy of the repository
is planned by the workflow (its study through the shared `prune` rule, its table rule), lints clean and
keeps the import contracts."""
import re
import shutil
import subprocess
import sys

from conftest import REPO

TOY = REPO / "tests" / "data" / "toy_paper"
CODE = ("Snakefile", "rules", "config", "benchmarks", "methods", "estimators", "envs", "pyproject.toml")


def _repo_copy(dest):
    dest.mkdir()
    for name in CODE:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    (dest / "results").mkdir()
    shutil.copytree(REPO / "results" / "reference", dest / "results" / "reference")
    (dest / "tests").mkdir()
    return dest


def test_a_toy_paper_needs_its_home_and_two_lines(tmp_path):
    repo = _repo_copy(tmp_path / "repo")
    added = []
    for f in sorted(TOY.rglob("*")):
        if not f.is_file() or f == TOY / "README.md":
            continue
        target = repo / str(f.relative_to(TOY)).removesuffix(".in")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
        added.append(str(target.relative_to(repo)))
    homes = ("benchmarks/papers/toy/", "rules/papers/toy.smk", "config/papers/toy.", "tests/papers/toy/")
    assert added and all(a.startswith(homes) for a in added), added
    snakefile = repo / "Snakefile"
    text = snakefile.read_text()
    snakefile.write_text(text.replace('include: "rules/papers/mint.smk"\n',
                                      'include: "rules/papers/mint.smk"\ninclude: "rules/papers/toy.smk"\n'))
    cfg = repo / "config" / "config.yaml"
    cfg.write_text(re.sub(r"^papers: \[(.*)\]$", r"papers: [\1, toy]", cfg.read_text(), flags=re.M))
    changed = [l for a, b in ((text, snakefile.read_text()), ((REPO / "config" / "config.yaml").read_text(), cfg.read_text()))
               for l in set(b.splitlines()) ^ set(a.splitlines())]
    assert len(changed) == 3, changed  # one line added to the Snakefile, one line changed in config.yaml

    def snakemake(*args):
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(tmp_path / "work"),
                               *args, "--config", f"data_root={tmp_path / 'data'}"], capture_output=True, text=True,
                              timeout=300, cwd=repo)
        return proc.returncode, proc.stdout + proc.stderr

    rc, out = snakemake("-n", "results/toy/table1.csv")
    assert rc == 0, out[-3000:]
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["prune"] == 6 and counts["toy_table"] == 1, counts  # 2 ratios x 3 seeds, through `prune`
    assert "results/toy/runs/l1/ratio0.3/seed0.json" in out
    rc, out = snakemake("--lint")
    assert rc == 0 and "Congratulations" in out, out[-3000:]
    proc = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports; import sys; "
                           "sys.exit(lint_imports(config_filename='pyproject.toml'))"], cwd=repo,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "benchmarks.papers.toy" not in proc.stdout, proc.stdout[-3000:]
