"""Config options: on a bare argparse parser, and as each real command declares them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from bitsback_core.cli.main import build_parser, main
from bitsback_core.cli.options import (
    add_config_options,
    command_keys,
    config_from_args,
    ignored_keys,
    reject_unknown,
    takes_config,
)
from bitsback_core.config import GROUPS, OPTION_GROUPS, Config, config_keys, group_keys
from bitsback_core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[3]
SEED_CONFIGS = sorted((REPO_ROOT.parent / "shared" / "seed" / "configs").glob("*.yml"))
REPO_CONFIGS = sorted((REPO_ROOT / "configs").glob("*.yml"))

#: Every command that takes a config, as argv up to its options.
CONFIG_COMMANDS = (
    ["run"], ["compress"], ["evaluate"], ["quantize"], ["train"],
    ["bench", "coders"], ["bench", "baselines"],
)  # fmt: skip


def _parser(groups: tuple[str, ...] = OPTION_GROUPS, **defaults: object) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bitsback run")
    parser.add_argument("input")
    parser.add_argument("--output", help="own option")
    add_config_options(parser, groups=groups, defaults=defaults)
    return parser


def _overridable(parser: argparse.ArgumentParser) -> set[str]:
    return {
        action.dest.removeprefix("_override_")
        for action in parser._actions
        if action.dest.startswith("_override_")
    }


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# ----------------------------------------------------------------- the options themselves


def test_every_key_of_the_option_groups_becomes_an_option() -> None:
    parser = _parser()
    # --config is the file itself; record and unused keys are never options
    assert _overridable(parser) == set(group_keys(*OPTION_GROUPS)) - {"config"}
    assert not _overridable(parser) & {"workers", "batch_compute", "output", "ckpt_path"}
    args = parser.parse_args(["in", "--output", "o", "--lr", "0.5"])
    assert args.output == "o" and args.config_overrides == {"lr": "0.5"}


def test_only_the_declared_groups_become_options() -> None:
    parser = _parser(groups=("data", "output"))
    assert _overridable(parser) == set(group_keys("data", "output"))
    assert takes_config(parser.parse_args(["in"]))
    assert parser.parse_known_args(["in", "--lr", "1"])[1] == ["--lr", "1"]


def test_command_keys_adds_extra_and_drops_omitted_keys() -> None:
    keys = command_keys(("data", "output"), extra=("gpu", "num_particles"), omit=("seed",))
    assert set(keys) == set(group_keys("data", "output")) - {"seed"} | {"gpu", "num_particles"}
    assert list(keys) == [key for key in config_keys() if key in keys]  # declaration order


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": ("data", "unused")}, "unused are not options"),
        ({"groups": ("nonsense",)}, "nonsense are not options"),
        ({"groups": ("data",), "extra": ("seed",)}, "'seed' is already included"),
        ({"groups": ("data",), "extra": ("workers",)}, "'workers' is already included or not"),
        ({"groups": ("data",), "omit": ("lr",)}, "omitted config key 'lr'"),
    ],
)
def test_a_wrong_declaration_fails_when_the_parser_is_built(
    kwargs: dict[str, tuple[str, ...]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        add_config_options(argparse.ArgumentParser(), **kwargs)  # type: ignore[arg-type]


def test_defaults_only_for_keys_the_command_uses() -> None:
    with pytest.raises(ValueError, match="does not use: batch_size"):
        _parser(groups=("data",), batch_size=100)
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        _parser(batch_size=0)


def test_help_has_one_heading_per_group_in_order() -> None:
    text = _parser(groups=("output", "data")).format_help()
    assert text.index("data keys:") < text.index("output keys:")
    assert GROUPS["data"].split(":")[0] in text and "training keys:" not in text


def test_usage_stays_short() -> None:
    usage = _parser().format_usage()
    assert usage == "usage: bitsback run [-h] [--output OUTPUT] input [--config PATH] " \
                    "[--KEY VALUE ...]\n"  # fmt: skip


def test_bare_bool_flag_means_true_and_overrides_are_per_parse() -> None:
    parser = _parser()
    first = parser.parse_args(["in", "--json", "--coder", "BitsBackCoder"])
    assert first.config_overrides == {"json": "true", "coder": "BitsBackCoder"}
    second = parser.parse_args(["in"])
    assert second.config_overrides == {}  # nothing leaks between parses
    config = config_from_args(first)
    assert config.json is True and config.coder == "BitsBackCoder"


def test_later_option_wins() -> None:
    args = _parser().parse_args(["in", "--seed", "1", "--seed=2"])
    assert config_from_args(args).seed == 2


def test_takes_config() -> None:
    parser = argparse.ArgumentParser()
    args = parser.parse_args([])
    assert not takes_config(args)
    with pytest.raises(TypeError, match="add_config_options"):
        config_from_args(args)
    assert takes_config(_parser().parse_args(["x"]))


# ----------------------------------------------------------------- keys a command ignores


def test_file_keys_the_command_does_not_use_are_named_once_and_keep_their_defaults(
    tmp_path: Path,
) -> None:
    config_file = _write(
        tmp_path / "c.yml",
        {"epochs": 5, "coder": "BitsBackCoder", "workers": 2, "lr": 0.5, "split": "letters"},
    )
    args = _parser(groups=("data", "model", "coding", "output")).parse_args(
        ["in", "--config", str(config_file), "--seed", "3"]
    )
    lines: list[str] = []
    config = config_from_args(args, lines.append)
    assert lines == ["config: ignoring keys run does not use: epochs, workers, lr"]
    assert ignored_keys(args) == ("epochs", "workers", "lr")
    assert (config.coder, config.split, config.seed) == ("BitsBackCoder", "letters", 3)
    assert (config.epochs, config.workers, config.lr) == (Config().epochs, 4, Config().lr)
    assert config.config == str(config_file)  # the record of the file read stays
    config_from_args(args, lines.append)
    assert len(lines) == 1  # once


def test_ignored_keys_go_to_stderr_without_a_reporter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = _write(tmp_path / "c.yml", {"batch_compute": True, "seed": 1})
    config_from_args(_parser().parse_args(["in", "--config", str(config_file)]))
    captured = capsys.readouterr()
    assert captured.err == "config: ignoring keys run does not use: batch_compute\n"
    assert captured.out == ""


def test_no_line_when_the_command_uses_every_key_of_the_file(tmp_path: Path) -> None:
    config_file = _write(tmp_path / "c.yml", {"seed": 1, "coder": "BitsBackCoder"})
    lines: list[str] = []
    config_from_args(_parser().parse_args(["in", "--config", str(config_file)]), lines.append)
    config_from_args(_parser().parse_args(["in"]), lines.append)
    assert lines == []


def test_ignored_keys_are_still_checked(tmp_path: Path) -> None:
    config_file = _write(tmp_path / "c.yml", {"epochs": "many"})
    args = _parser(groups=("data",)).parse_args(["in", "--config", str(config_file)])
    with pytest.raises(ConfigError, match="epochs expects an integer"):
        config_from_args(args)


# ----------------------------------------------------------------- options it does not take


def test_reject_unknown() -> None:
    with pytest.raises(ConfigError, match=r"unknown option --prio_mprec; did you mean "
                                          r"--prior_mprec\?"):  # fmt: skip
        reject_unknown(["--prio_mprec=3"])
    with pytest.raises(ConfigError, match="unknown option --zzz$"):
        reject_unknown(["x", "--zzz"])
    with pytest.raises(ConfigError, match="unexpected arguments: a b"):
        reject_unknown(["a", "b"])


def test_reject_unknown_names_the_group_of_a_key_the_command_does_not_use() -> None:
    args = _parser(groups=("data", "coding")).parse_args(["in"])
    with pytest.raises(ConfigError, match=r"^run does not use --lr \(a training key\)$"):
        reject_unknown(["--lr=3"], args)
    with pytest.raises(ConfigError, match=r"^--workers is no command's option \(read by"):
        reject_unknown(["--workers", "2"], args)
    with pytest.raises(ConfigError, match=r"^unknown option --latent_dims$"):
        reject_unknown(["--latent_dims", "2"], args)  # not a key run takes: no suggestion
    with pytest.raises(ConfigError, match=r"did you mean --num_particles\?$"):
        reject_unknown(["--num_particls", "2"], args)


# ----------------------------------------------------------------- the real commands


def _help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def _offered(argv: list[str]) -> set[str]:
    """The config keys the command ``argv`` offers as ``--key`` options."""
    parser = build_parser([argv[0]])
    for word in argv:
        (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = subparsers.choices[word]
    return _overridable(parser)


@pytest.mark.parametrize(
    ("argv", "offers", "lacks"),
    [
        (["run"], {"coder", "num_particles", "decode_check", "chains", "num_compress", "json"},
         {"epochs", "lr", "optimizer", "batch_size", "logdir", "exp_name"}),
        (["compress"], {"coder", "chains", "arithmetic", "num_compress", "checkpoint"},
         {"epochs", "lr", "decode_check", "batch_size"}),
        (["evaluate"], {"num_particles", "gpu", "arithmetic", "num_compress", "checkpoint"},
         {"coder", "lprec", "chains", "epochs", "decode_check"}),
        (["quantize"], {"checkpoint", "train_config", "split", "seed", "json"},
         {"coder", "gpu", "num_compress", "epochs", "binarize"}),
        (["train"], {"epochs", "lr", "bound", "batch_size", "num_particles", "gpu", "logdir",
                     "max_train_minutes", "latent_dim"},
         {"coder", "lprec", "chains", "decode_check", "num_compress", "train_config", "checkpoint"}),
        (["bench", "coders"], {"chains", "lanes", "checkpoint", "num_compress"},
         {"decode_check", "epochs", "lr"}),
        (["bench", "baselines"], {"num_compress", "binarize", "split", "json"},
         {"coder", "checkpoint", "gpu", "epochs"}),
    ],
)  # fmt: skip
def test_each_command_offers_only_the_keys_it_uses(
    capsys: pytest.CaptureFixture[str], argv: list[str], offers: set[str], lacks: set[str]
) -> None:
    text = _help(capsys, argv)
    offered = _offered(argv)
    assert offers <= offered and all(f"--{key}" in text for key in offers)
    assert not lacks & offered


@pytest.mark.parametrize("argv", CONFIG_COMMANDS, ids=" ".join)
def test_no_command_offers_record_or_unused_keys(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    text = _help(capsys, argv)
    assert not _offered(argv) & set(group_keys("record", "unused"))
    assert "--workers" not in text and "--batch_compute" not in text


def test_an_option_of_another_group_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BITSBACK_DEBUG", raising=False)
    assert main(["run", "--epochs", "5"]) == 2
    assert capsys.readouterr().err == "error: run does not use --epochs (a training key)\n"
    assert main(["train", "--coder", "BitsBackCoder"]) == 2
    assert capsys.readouterr().err == "error: train does not use --coder (a coding key)\n"


@pytest.mark.parametrize("argv", CONFIG_COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    "config_file", SEED_CONFIGS + REPO_CONFIGS, ids=lambda p: p.parent.parent.name + "/" + p.name
)
def test_the_seed_configs_load_for_every_command(argv: list[str], config_file: Path) -> None:
    args = build_parser([argv[0]]).parse_args([*argv, "--config", str(config_file)])
    lines: list[str] = []
    config = config_from_args(args, lines.append)
    written = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    ignored = [key for key in written if key not in args.config_keys_used]
    if ignored:
        assert lines == [
            f"config: ignoring keys {' '.join(argv)} does not use: {', '.join(ignored)}"
        ]
    else:
        assert lines == []
    for key in args.config_keys_used:  # the keys the command uses are applied as written
        if key in written:
            assert getattr(config, key) == Config.from_mapping({key: written[key]}).as_dict()[key]


def test_run_names_exactly_the_training_and_unused_keys_of_the_compress_config() -> None:
    config_file = REPO_ROOT / "configs" / "compress_bin_emnist.yml"
    args = build_parser(["run"]).parse_args(["run", "--config", str(config_file)])
    lines: list[str] = []
    config = config_from_args(args, lines.append)
    assert lines == [
        "config: ignoring keys run does not use: exp_name, logdir, workers, batch_compute, "
        "batch_size"
    ]
    assert (config.num_compress, config.decode_check, config.gpu) == (500, True, 0)
