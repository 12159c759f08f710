"""The local build's memory estimate warns with the way out; run.json's peaks come from rusage."""

from pipelines.launch import local_memory as lm


def test_estimate_grows_with_input_and_warns_only_when_it_would_not_fit():
    small, large = lm.estimate_peak_mb(10), lm.estimate_peak_mb(2000)
    assert small < large
    assert lm.memory_warning(10, machine_mb=24_000) is None
    warning = lm.memory_warning(200_000, machine_mb=24_000)  # 200 GB of raw text on a 24 GB laptop
    assert warning is not None and "--runner DataflowRunner" in warning and "--base" in warning
    # the line is where the estimate crosses the warning share of the machine
    machine = large / lm.WARN_SHARE
    assert lm.memory_warning(2000, machine_mb=machine * 1.01) is None
    assert lm.memory_warning(2000, machine_mb=machine * 0.99) is not None


def test_measured_peaks_are_positive_for_this_process():
    peaks = lm.measured_peaks_mb()
    assert peaks["runner"] > 10  # a Python process with pytest loaded holds more than 10 MB
