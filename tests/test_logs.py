"""Job logs: a rerun after Snakemake deleted the rule's log still keeps every attempt in <log>.history."""
import logging

from benchmarks import logs


def test_every_attempt_stays_in_the_history(tmp_path):
    log_file = tmp_path / "logs" / "job.log"
    for attempt in (1, 2):
        logs.setup(log_file).info("attempt %d", attempt)
        for h in logging.getLogger("ibbench").handlers:
            h.flush()
        if attempt == 1:
            log_file.unlink()  # what Snakemake does before it reruns the job
    assert "attempt 2" in log_file.read_text() and "attempt 1" not in log_file.read_text()
    history = (tmp_path / "logs" / "job.log.history").read_text()
    assert "attempt 1" in history and "attempt 2" in history
    logging.getLogger("ibbench").handlers.clear()


def test_tag_marks_every_line(tmp_path):
    import logging.config

    logging.getLogger("ibbench.train")
    logging.config.dictConfig({"version": 1})  # what some libraries do: it disables existing loggers
    log_file = tmp_path / "tagged.log"
    logs.setup(log_file, tag="lenet5_caffe_mnist seed1 100%").getChild("train").info("epoch 1/40")
    for h in logging.getLogger("ibbench").handlers:
        h.flush()
    assert "[lenet5_caffe_mnist seed1 100%] ibbench.train INFO epoch 1/40" in log_file.read_text()
    logging.getLogger("ibbench").handlers.clear()
