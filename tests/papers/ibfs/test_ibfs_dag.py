"""The paper-scale ibfs DAG (VGG-16 / ResNet-50 fine-tuned from ImageNet weights on PASCAL-Part cat vs
Places, GPU jobs) is planned in full: a dry run lists its data preparation, fine-tuning, analysis and
selection jobs with the GPU resources the SLURM profile submits them with. Running them needs the
datasets, the ImageNet weights and a GPU; their code runs on synthetic data in test_ibfs_imagenet_models.py."""
import re

from conftest import snakemake


def test_paper_dry_run_plans_the_vgg16_and_resnet50_jobs(tmp_path):
    rc, out = snakemake(tmp_path, "-n", "ibfs_all", "--config", f"data_root={tmp_path / 'data'}")
    assert rc == 0, out[-3000:]
    for path in ("runs/data/voccat_vs_places.json",
                 "runs/baselines/vgg16_voccat_vs_places/seed0/model.pt",
                 "runs/baselines/resnet50_voccat_vs_places/seed0/model.pt",
                 "results/ibfs/analysis/vgg16_voccat_vs_places/seed0_information.csv",
                 "results/ibfs/analysis/resnet50_voccat_vs_places/seed0_information.csv",
                 "results/ibfs/runs/vgg16-voccat/auc_target0.997/seed0.json",
                 "figures/ibfs/fig2.png", "figures/ibfs/fig4b.png", "results/ibfs/table1.csv"):
        assert path in out, path
    jobs = re.split(r"\n(?=rule \w+:)", out)
    gpu_jobs = [j for j in jobs if "gpu=1" in j]
    assert any("runs/baselines/vgg16_voccat_vs_places/seed0/model.pt" in j for j in gpu_jobs)
    assert any("runs/ibfs/vgg16-voccat/auc_target0.997/seed0/model.pt" in j for j in gpu_jobs)
    assert not any("lenet5_mnist3_vs_rest/seed0/model.pt" in j for j in gpu_jobs)  # the CPU networks
