"""The hardening table of issue 16 from a pytest run: category, cases, failures.

    pytest -m "not slow" --junitxml=fast.xml
    pytest tests/hardening -m slow --junitxml=slow.xml
    python tests/hardening/suite_table.py fast.xml slow.xml

Every test counted here asserts that its command ends in one clear line (or answers,
with a warning, what an intact index answers) and never in a traceback or a silent wrong
answer, so a failed case is one of those. Damaged index files are counted per file, like
the probe (tests/hardening/probe_index.py).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter

HARD = "tests.hardening."
# category -> (module, test name prefix) pairs; a case counts in the first that matches
CATEGORIES: dict[str, list[tuple[str, str]]] = {
    "kills at each write/swap point": [
        (HARD + "test_index_faults", "test_a_kill_at_each_commit_step"),
        (HARD + "test_index_faults", "test_an_orphan_generation"),
        ("tests.store.test_publish_durability", ""),
    ],
    "damaged index, other": [
        (HARD + "test_index_faults", "test_no_intact_generation"),
        (HARD + "test_index_faults", "test_status_check_passes"),
        (HARD + "test_index_faults", "test_garbled_vectors"),
        (HARD + "test_index_faults", "test_an_index_written_before_checksums"),
    ],
    "chunk ids, leftovers": [
        (HARD + "test_index_faults", "test_chunk_ids_are_never_reused"),
        (HARD + "test_index_faults", "test_leftovers"),
        (HARD + "test_index_faults", "test_a_failed_first_ingest"),
    ],
    "disk full (tmpfs)": [(HARD + "test_index_faults", "test_a_full_disk")],
    "read-only, unwritable": [
        (HARD + "test_index_faults", "test_a_read_only_index"),
        (HARD + "test_index_faults", "test_an_unwritable_index_folder"),
        (HARD + "test_inputs", "test_ask_prints_the_whole_answer_when_the_cache"),
        (HARD + "test_inputs", "test_chat_goes_on_when_history"),
        (HARD + "test_inputs", "test_ask_on_a_read_only_index"),
    ],
    "long-lived readers": [
        (HARD + "test_readers", ""),
        ("tests.documents.test_documents", "test_a_long_lived_index"),
    ],
    "bad file names, forged lines": [
        ("tests.ingest.test_discover", "test_file_name_that_is_not_utf8"),
        ("tests.ingest.test_ingest_folders", "test_bad_file_names_and_links"),
        (HARD + "test_inputs", "test_printable"),
        (HARD + "test_inputs", "test_warnings_errors_and_notes"),
        (HARD + "test_inputs", "test_ingest_skip_lines_cannot_forge"),
        (HARD + "test_inputs", "test_plain_search_output_escapes"),
        (HARD + "test_inputs", "test_streamed_answers_and_source_lines_escape"),
        (HARD + "test_report_escaping", ""),
    ],
    "deeply nested HTML": [(HARD + "test_inputs", "test_html_nested")],
    "symlinks out of the root": [
        ("tests.ingest.test_discover", "test_symlinks_out_of_the_root"),
        ("tests.ingest.test_discover", "test_broken_symlink"),
    ],
    "invalid UTF-8, unbounded input": [
        (HARD + "test_inputs", "test_invalid_utf8"),
        (HARD + "test_inputs", "test_chat_skips_a_line"),
        (HARD + "test_inputs", "test_a_query_on_stdin_is_bounded"),
        (HARD + "test_inputs", "test_batch_lines_and_batches"),
        (HARD + "test_inputs", "test_real_argv_and_dev_zero"),
        ("tests.config.test_config", "test_invalid_utf8"),
    ],
    "config values": [
        ("tests.config.test_config", "test_bad_environment_values"),
        ("tests.config.test_config", "test_bad_toml_values"),
    ],
    "JSONL id clashes": [("tests.ingest.test_ingest_folders", "test_jsonl_id_used_by_another")],
    "malformed LLM streams": [
        (HARD + "test_llm_faults", "test_a_broken_stream"),
        (HARD + "test_llm_faults", "test_a_truncated_or_garbled"),
        (HARD + "test_llm_faults", "test_a_complete_stream"),
        (HARD + "test_llm_faults", "test_headers_then_silence"),
        (HARD + "test_llm_faults", "test_ask_on_an_ollama_stream"),
    ],
    "secrets echoed back": [
        (HARD + "test_llm_faults", "test_a_key_echoed"),
        (HARD + "test_llm_faults", "test_url_credentials"),
        (HARD + "test_llm_faults", "test_chat_keeps_an_echoed_key"),
    ],
    "fence look-alikes": [
        (HARD + "test_fence", ""),
        (HARD + "test_inputs", "test_earlier_turns_are_fenced"),
        (HARD + "test_inputs", "test_chat_follow_up_keeps"),
        ("tests.prompt.test_prompt", "test_injected_closing_tag"),
    ],
    "default Claude model": [("tests.generate.test_claude_model", "")],
    # issue 25: each with a CPU and a memory ceiling on its `rag` process (bounded.py)
    "hostile patterns (RE2)": [(HARD + "test_hostile_patterns", "")],
    "parse bombs": [(HARD + "test_parse_bombs", "")],
    "damaged checkpoints, live vectors": [(HARD + "test_checkpoint_faults", "")],
    "unbounded text units": [(HARD + "test_text_units", "")],
    "smaller hostile inputs (issue 25)": [(HARD + "test_small_items", "")],
    "parse worker (issue 25)": [(HARD + "test_parse_worker", "")],
}
DAMAGED = (HARD + "test_index_faults", "test_a_damaged_file_is_named_and_never_answers_silently[")


def category(module: str, name: str) -> str | None:
    if module == DAMAGED[0] and name.startswith(DAMAGED[1]):
        return "damaged file: " + name[len(DAMAGED[1]) :].split(" ")[0].split("/")[0]
    for title, rules in CATEGORIES.items():
        if any(module == m and name.startswith(prefix) for m, prefix in rules):
            return title
    return None


def outcome(case: ET.Element) -> str:
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    return "skipped" if case.find("skipped") is not None else "passed"


def main(paths: list[str]) -> None:
    table: dict[str, Counter] = {}
    for path in paths:
        for case in ET.parse(path).iter("testcase"):
            found = category(case.get("classname", ""), case.get("name", ""))
            if found is not None:
                table.setdefault(found, Counter())[outcome(case)] += 1
    order = [t for t in table if t.startswith("damaged file")] + [
        t for t in CATEGORIES if t in table
    ]
    print(f"{'category':34s} cases  failed  skipped")
    for title in order:
        counts = table[title]
        total = sum(counts.values())
        print(f"{title:34s} {total:5d}  {counts['failed']:6d}  {counts['skipped']:7d}")
    totals = sum((table[t] for t in order), Counter())
    print(f"{'all':34s} {sum(totals.values()):5d}  {totals['failed']:6d}  {totals['skipped']:7d}")


if __name__ == "__main__":
    main(sys.argv[1:])
