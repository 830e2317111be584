"""Config: defaults, precedence, parsing, errors, YAML round trip, the paper's files."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import yaml

from bitsback_core.config import Config, config_keys, describe_key
from bitsback_core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = REPO_ROOT.parent / "shared"
SEED_CONFIGS = sorted((SHARED / "seed" / "configs").glob("*.yml"))
PAPER_CONFIGS = sorted((SHARED / "checkpoints" / "mcbits-paper").glob("*/train_config.yml"))

needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared resources folder {SHARED} is absent"
)

PAPER_KEYS = """exp_name logdir seed gpu datadir dataset split binarize workers model latent_dim
    optimizer lr eps scheduler epochs batch_size bound num_particles train_config num_compress
    batch_compute decode_check coder lprec bprec log_num_bucket prop_mprec cond_mprec prior_mprec
    iterative_post_improvement iterative_improvement_steps iterative_improvement_lr ckpt_path
    config config_path expdir""".split()
OUR_KEYS = (
    "checkpoint chains lanes chain_threads arithmetic portable_format proposal discretizer output json "
    "max_train_minutes".split()
)


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_keys_cover_the_paper_and_ours() -> None:
    assert set(config_keys()) == set(PAPER_KEYS) | set(OUR_KEYS)
    for key in config_keys():
        assert describe_key(key)  # every key is documented


def test_defaults() -> None:
    config = Config()
    assert (config.gpu, config.datadir, config.logdir) == (-1, None, "./runs")
    assert config.batch_size == 20
    assert (config.proposal, config.discretizer, config.coder) == (
        "amortized",
        "max_entropy",
        "ISBitsBackCoder",
    )
    assert (config.chains, config.lanes, config.checkpoint, config.output, config.json) == (
        None,
        None,
        None,
        None,
        False,
    )
    assert (config.lprec, config.bprec, config.log_num_bucket) == (32, 32, 8)
    assert (config.prop_mprec, config.cond_mprec, config.prior_mprec) == (16, 16, 8)
    assert (config.lr, config.eps, config.epochs, config.latent_dim) == (0.001, 0.0001, 3280, 50)


@needs_shared
def test_defaults_follow_the_seed_except_documented_keys() -> None:
    """Every seed value is our default, except keys with a documented reason to differ."""
    changed = {"exp_name", "logdir", "gpu", "datadir", "batch_size", "train_config"}
    defaults = Config().as_dict()
    for path in SEED_CONFIGS:
        for key, value in yaml.safe_load(path.read_text()).items():
            if key not in changed:
                assert defaults[key] == value, (path.name, key)


def test_precedence_command_line_over_file_over_defaults(tmp_path: Path) -> None:
    file = _write(tmp_path / "c.yml", {"lr": 0.5, "epochs": 7, "split": "letters"})
    config = Config.from_sources(
        file,
        {"epochs": "9"},
        defaults={"lr": 0.25, "batch_size": 100, "epochs": 1},
    )
    assert config.epochs == 9  # command line
    assert config.lr == 0.5 and config.split == "letters"  # file
    assert config.batch_size == 100  # command defaults
    assert config.seed == 42  # class defaults
    assert config.config == str(file)  # records the file, like the paper's scripts


def test_defaults_may_be_a_config() -> None:
    base = attrs.evolve(Config(), coder="BitsBackCoder")
    assert Config.from_sources(None, {}, defaults=base).coder == "BitsBackCoder"


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("lr", "1e-3", 0.001),
        ("lr", "2", 2.0),
        ("num_particles", "50", 50),
        ("binarize", "false", False),
        ("binarize", "False", False),
        ("binarize", "True", True),
        ("decode_check", "true", True),
        ("datadir", "null", None),
        ("datadir", "none", None),
        ("chains", "None", None),
        ("chains", "8", 8),
        ("exp_name", "123", "123"),  # text keys take the string verbatim
        ("split", "yes", "yes"),
        ("gpu", "-1", -1),
        ("coder", "CISBitsBackCoder", "CISBitsBackCoder"),
        ("num-particles", "5", 5),  # dashes work as well
    ],
)
def test_command_line_strings_are_parsed_into_the_key_type(
    key: str, text: str, value: object
) -> None:
    config = Config.from_sources(None, {key: text})
    got = getattr(config, key.replace("-", "_"))
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("lr", "abc", "--lr expects a float, got 'abc'"),
        ("lr", "nan", "--lr expects a float, got 'nan'"),
        ("num_particles", "2.5", "--num_particles expects an integer, got '2.5'"),
        ("num_particles", "true", "--num_particles expects an integer, got 'true'"),
        ("num_particles", "0", "--num_particles must be >= 1, got 0"),
        ("binarize", "maybe", "--binarize expects true or false, got 'maybe'"),
        ("chains", "x", "--chains expects an integer or null, got 'x'"),
        ("seed", "null", "--seed expects an integer, got None"),
    ],
)
def test_command_line_type_errors(key: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_sources(None, {key: text})
    assert str(info.value) == message


def test_unknown_keys_suggest_the_closest(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown option --num_particls; did you mean "
        r"--num_particles\?",
    ):
        Config.from_sources(None, {"num_particls": "5"})
    file = _write(tmp_path / "c.yml", {"laerning_rate": 1})
    with pytest.raises(
        ConfigError,
        match=r"unknown config key 'laerning_rate' in config file "
        r".*c.yml'; known keys: dataset",
    ):
        Config.from_sources(file, {})
    _write(file, {"cdoer": "x"})
    with pytest.raises(ConfigError, match="unknown config key 'cdoer'.*did you mean 'coder'"):
        Config.from_yaml_file(file)


def test_file_type_errors_name_the_file(tmp_path: Path) -> None:
    file = _write(tmp_path / "c.yml", {"epochs": "many"})
    with pytest.raises(ConfigError, match=r"epochs expects an integer, got 'many' \(config file"):
        Config.from_sources(file, {})
    _write(file, {"binarize": 1})
    with pytest.raises(ConfigError, match="binarize expects true or false, got 1"):
        Config.from_yaml_file(file)


def test_file_values_forgive_yaml_number_quirks(tmp_path: Path) -> None:
    file = tmp_path / "c.yml"
    file.write_text("lr: 1e-3\nexp_name: 2024\nepochs: 10.0\nbinarize: 'false'\n")
    config = Config.from_yaml_file(file)
    assert (config.lr, config.exp_name) == (0.001, "2024")
    assert (config.epochs, config.binarize) == (10, False)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        Config.from_sources(tmp_path / "missing.yml", {})
    with pytest.raises(ConfigError, match="is not a file"):
        Config.from_yaml_file(tmp_path)
    listing = tmp_path / "list.yml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        Config.from_yaml_file(listing)
    broken = tmp_path / "broken.yml"
    broken.write_text("lr: [1, 2\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        Config.from_yaml_file(broken)
    empty = tmp_path / "empty.yml"
    empty.write_text("# nothing\n")
    assert Config.from_yaml_file(empty) == Config()


def test_init_and_evolve_validate() -> None:
    with pytest.raises(ConfigError, match="lr expects a float, got 'abc'"):
        Config(lr="abc")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="binarize expects true or false, got 1"):
        attrs.evolve(Config(), binarize=1)
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        attrs.evolve(Config(), batch_size=0)
    assert attrs.evolve(Config(), num_particles=5).num_particles == 5
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Config().lr = 1.0  # type: ignore[misc]


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = attrs.evolve(
        Config(), lr=1e-5, chains=4, datadir="/data/x y", exp_name="e", json=True, split="letters"
    )
    assert Config.from_mapping(yaml.safe_load(config.to_yaml())) == config
    config.to_yaml_file(tmp_path / "out.yml")
    assert Config.from_yaml_file(tmp_path / "out.yml") == config
    assert list(config.as_dict()) == list(config_keys())


@needs_shared
@pytest.mark.parametrize(
    "path", SEED_CONFIGS + PAPER_CONFIGS, ids=lambda p: p.parent.name + "/" + p.name
)
def test_paper_config_files_load_unchanged(path: Path) -> None:
    written = yaml.safe_load(path.read_text())
    config = Config.from_yaml_file(path)
    loaded = config.as_dict()
    for key, value in written.items():
        assert loaded[key] == value and type(loaded[key]) is type(value), key
    # and write back to the same values
    assert {k: v for k, v in yaml.safe_load(config.to_yaml()).items() if k in written} == written


@needs_shared
def test_paper_files_are_present() -> None:
    assert len(SEED_CONFIGS) == 2 and len(PAPER_CONFIGS) == 6


def test_arithmetic_defaults_to_portable() -> None:
    assert Config().arithmetic == "portable"


def test_every_key_has_exactly_one_known_group() -> None:
    from bitsback_core.config import GROUPS, OPTION_GROUPS, group_keys, key_group

    assert set(OPTION_GROUPS) < set(GROUPS)
    by_group = [key for group in GROUPS for key in group_keys(group)]
    assert sorted(by_group) == sorted(config_keys())  # a partition: no key twice, none left
    for key in config_keys():
        assert key in group_keys(key_group(key))
    assert key_group("epochs") == "training" and key_group("coder") == "coding"
    with pytest.raises(ValueError, match="unknown config group"):
        group_keys("data", "nonsense")
    with pytest.raises(ConfigError, match="unknown config key 'nonsense'"):
        key_group("nonsense")


def test_unused_keys_are_read_nowhere() -> None:
    """``unused`` is a claim about the code: no module reads these keys from a config."""
    import re

    from bitsback_core.config import group_keys

    sources = [*(REPO_ROOT / "bitsback_core").rglob("*.py"), *(REPO_ROOT / "plugins").rglob("*.py")]
    for key in group_keys("unused"):
        pattern = re.compile(rf"\b(config|cfg|train_config)\.{key}\b|getattr\([^)]*[\"']{key}[\"']")
        readers = [
            str(path) for path in sources if pattern.search(path.read_text(encoding="utf-8"))
        ]
        assert readers == [], f"{key} is read in {readers}: give it a real group"


def test_library_config_still_takes_every_key() -> None:
    """Groups change nothing for library users: one flat object with every key."""
    config = Config.from_mapping({"workers": 8, "batch_compute": True, "epochs": 2, "coder": "X"})
    assert (config.workers, config.batch_compute, config.epochs, config.coder) == (8, True, 2, "X")
    assert set(config.as_dict()) == set(config_keys())
    assert Config.from_mapping(yaml.safe_load(config.to_yaml())) == config


def test_file_keys_in_file_order(tmp_path: Path) -> None:
    from bitsback_core.config import file_keys

    path = tmp_path / "c.yml"
    path.write_text("lr: 0.1\nworkers: 2\nseed: 1\n", encoding="utf-8")
    assert file_keys(path) == ("lr", "workers", "seed")
    (tmp_path / "empty.yml").write_text("", encoding="utf-8")
    assert file_keys(tmp_path / "empty.yml") == ()
