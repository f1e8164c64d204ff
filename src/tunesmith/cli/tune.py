"""``tunesmith tune`` (policy-gradient fine-tuning of the Composer with the Critic's verdict)
and ``tunesmith adversarial`` (rounds of Critic and Composer training)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.cli.common import add_device_arg, make_config
from tunesmith.cli.train import add_train_args, saved_settings, train_config
from tunesmith.config import Budgets, TuneConfig


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "tune",
        help="fine-tune the Composer so the Critic takes its pieces for real",
        description="Policy gradient (REINFORCE, leave-one-out baseline) on a copy of the "
        "Composer: the reward is the Critic's score of each composed piece, minus a KL penalty "
        "to the original Composer (--kl-coef) so it cannot collapse onto a few pieces that fool "
        "the Critic. Progress shows mean reward and KL; checkpoints are Composer checkpoints.",
    )
    p.add_argument("--composer", type=Path, default=Path("runs/composer"), help="the start")
    p.add_argument("--critic", type=Path, default=Path("runs/critic"), help="gives the reward")
    add_tune_args(p)
    add_train_args(p, "tuned")
    p.set_defaults(run=run_tune)

    a = verbs.add_parser(
        "adversarial",
        help="alternate Critic and Composer training for R rounds",
        description="Each round extends the Critic with the Composer's latest pieces as "
        "negatives, then tunes the Composer against that Critic (KL anchored to the original "
        "Composer). Logs per round the Critic's accuracy on held-out composed pieces and the "
        "Composer's validation NLL on real music. Finished rounds are skipped when run again.",
    )
    a.add_argument("--composer", type=Path, default=Path("runs/composer"), help="the start")
    a.add_argument("--critic", type=Path, default=Path("runs/critic"), help="the first Critic")
    b = Budgets()
    a.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    a.add_argument(
        "--critic-minutes", type=float, default=b.critic_minutes, help="Critic budget a round"
    )
    a.add_argument(
        "--tune-minutes", type=float, default=b.tune_minutes, help="Composer budget a round"
    )
    a.add_argument(
        "--composer-pieces",
        type=int,
        default=b.composer_pieces,
        help=f"negatives a round ({b.composer_pieces})",
    )
    add_tune_args(a)
    a.add_argument("--out", type=Path, default=Path("runs/adversarial"), help="output folder")
    a.add_argument("--seed", type=int, default=0, help="seed (0)")
    add_device_arg(a)
    a.set_defaults(run=run_adversarial)


def add_tune_args(p: argparse.ArgumentParser) -> None:
    d = TuneConfig()
    g = p.add_argument_group("tuning")
    g.add_argument("--kl-coef", type=float, help=f"beta of the KL penalty ({d.kl_coef})")
    g.add_argument("--length", type=int, help=f"tokens per sampled piece ({d.length})")
    g.add_argument(
        "--stuck-penalty",
        type=float,
        help=f"reward minus this per note never released ({d.stuck_penalty})",
    )
    g.add_argument("--temperature", type=float, help=f"sampling temperature ({d.temperature})")
    g.add_argument(
        "--pieces-per-epoch", type=int, help=f"pieces between validations ({d.pieces_per_epoch})"
    )
    g.add_argument(
        "--valid-pieces", type=int, help=f"pieces sampled to validate ({d.valid_pieces})"
    )


def tune_config(args: argparse.Namespace, file: dict, saved: dict) -> TuneConfig:
    return make_config(
        TuneConfig,
        file,
        saved.get("tune", {}),
        length=args.length,
        kl_coef=args.kl_coef,
        stuck_penalty=args.stuck_penalty,
        temperature=args.temperature,
        pieces_per_epoch=args.pieces_per_epoch,
        valid_pieces=args.valid_pieces,
    )


def run_tune(args: argparse.Namespace) -> int:
    import contextlib

    from tunesmith.cli.common import load_config_file
    from tunesmith.compose import load_composer
    from tunesmith.data.cache import TokenCache
    from tunesmith.evaluation.scoring import load_critic
    from tunesmith.progress import rich_progress
    from tunesmith.training import tune as defaults
    from tunesmith.training.distributed import runtime
    from tunesmith.training.loop import train

    saved = saved_settings(args.out, args.resume, "composer")
    file = load_config_file(args.config, {"tune", "train"})
    config = train_config(args, file, defaults.TRAIN, saved)
    tune = tune_config(args, file, saved)
    with runtime(config.device) as rt:
        composer_path = saved.get("base") or args.composer
        base = load_composer(composer_path, rt.device)
        critic_path = saved.get("reward", {}).get("critic") or args.critic
        critic = load_critic(critic_path, rt.device, codec=base.codec.config)
        cache = TokenCache.load(base.meta["data"]["cache"]) if base.meta.get("data") else None
        reward = defaults.critic_reward(critic, critic.codec, tune.stuck_penalty)
        meta = {"critic": str(critic.path)}
        task = defaults.TuneTask(base, reward, tune, config.seed, cache, meta)
        say = print if rt.main else (lambda s: None)
        # KL(optimum || original) <= (max reward - the original's mean reward) / beta.
        extra = (
            f" (+{tune.stuck_penalty / tune.kl_coef:.0f} per stuck note the original writes)"
            if tune.stuck_penalty
            else ""
        )
        say(
            f"tuning {base.path} against {critic.path}: beta {tune.kl_coef}, so at the optimum "
            f"KL <= {1 / tune.kl_coef:.0f} nats a piece{extra}"
        )
        bars = rich_progress(transient=True) if rt.main else contextlib.nullcontext(None)
        with bars as progress:
            result = train(task, config, args.out, rt, args.resume, progress, echo=say)
    if rt.main:
        s = result.state
        print(
            f"stopped: {result.stop} after {s.step} steps ({s.elapsed / 60:.1f} min); "
            f"best at step {s.best_step}"
        )
        print(f"tuned Composer: {result.best} (use it with compose or evaluate)")
    return 130 if result.stop == "interrupted" else 0


def run_adversarial(args: argparse.Namespace) -> int:
    import contextlib

    from tunesmith.compose import load_composer
    from tunesmith.data.cache import TokenCache
    from tunesmith.errors import ConfigError
    from tunesmith.progress import rich_progress
    from tunesmith.training.adversarial import adversarial
    from tunesmith.training.distributed import runtime

    if not 1 <= args.rounds <= 100:
        raise ConfigError(f"--rounds must be in [1, 100], got {args.rounds}")
    tune = tune_config(args, {}, {})
    budgets = Budgets(args.critic_minutes, args.tune_minutes, args.composer_pieces)
    with runtime(args.device or "auto") as rt:
        meta = load_composer(args.composer).meta
        cache = TokenCache.load(meta["data"]["cache"])
        bars = rich_progress(transient=True) if rt.main else contextlib.nullcontext(None)
        with bars as progress:
            records = adversarial(
                args.composer,
                args.critic,
                args.out,
                args.rounds,
                cache,
                rt,
                budgets,
                tune,
                args.seed,
                progress,
            )
    if rt.main:
        print(f"{len(records)} rounds in {args.out}; the last Composer: {records[-1]['composer']}")
    return 0
