"""The ``cornerstone`` command. Thin: it parses options and delegates to the services and ops."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cornerstone.bff.config import BffSettings
from cornerstone.kernel.config import KernelSettings

if TYPE_CHECKING:
    from cornerstone.ops.verify import OrgReport

app = typer.Typer(
    help="Cornerstone: CRE deal and fund operations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
kernel_app = typer.Typer(help="The kernel: run it, or check its event log.", invoke_without_command=True)
org_app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
audit_app = typer.Typer(help="The BFF's audit trail.", no_args_is_help=True)
app.add_typer(kernel_app, name="kernel")
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(help="Access-token signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(org_app, name="org")
evidence_app = typer.Typer(help="Deal evidence packs: the signing key, and offline verification.", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")
validate_app = typer.Typer(help="Checks of a running system, each named; exit 1 on any failure.", no_args_is_help=True)
app.add_typer(validate_app, name="validate")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default ./var).")]


class CliError(Exception):
    """A failure worth one clear line to the operator."""


def _apply_data_dir(data_dir: Path | None) -> None:
    if data_dir is not None:
        os.environ["CORNERSTONE_DATA_DIR"] = str(data_dir)


def _kernel_settings() -> KernelSettings:
    return KernelSettings()


def _bff_settings() -> BffSettings:
    return BffSettings()


@kernel_app.callback()
def kernel(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8001).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the kernel (internal API) in the foreground."""
    _apply_data_dir(data_dir)
    if ctx.invoked_subcommand is not None:
        return
    from cornerstone.kernel.app import create_app
    from cornerstone.kit.service_app import serve

    settings = _kernel_settings()
    serve(create_app(settings), host or settings.kernel_host, port if port is not None else settings.kernel_port)


@kernel_app.command("verify")
def kernel_verify(
    org: Annotated[str | None, typer.Option(help="Only this org's chain.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Prove the event log (every hash recomputed, its signed head present) and the money (every money row
    against the events that wrote it, and the books reconciled); print each finding, exit 1 on any."""
    _apply_data_dir(data_dir)
    from cornerstone.ops.verify import verify_kernel_chains_sync

    settings = _kernel_settings()
    url = settings.resolved_kernel_migration_database_url()
    _report(verify_kernel_chains_sync(url, org, _existing_service_key(settings)), "events")


@audit_app.command("verify")
def audit_verify(
    org: Annotated[str | None, typer.Option(help="Only this org's chain.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Prove the audit trail (every hash recomputed, its signed head present); print each finding, exit 1 on any."""
    _apply_data_dir(data_dir)
    from cornerstone.ops.verify import verify_audit_chains_sync

    settings = _bff_settings()
    url = settings.resolved_bff_migration_database_url()
    _report(verify_audit_chains_sync(url, org, _existing_service_key(settings)), "records")


def _existing_service_key(settings: KernelSettings | BffSettings) -> str | None:
    """The service key the services sign checkpoints under, without generating one: a verifier that made up
    a fresh key would call every checkpoint forged."""
    if settings.service_key:
        return settings.service_key
    path = settings.data_dir / "secrets" / "service_key"
    return (path.read_text().strip() or None) if path.exists() else None


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None) -> None:
    """Add a new access-token signing key; older keys keep verifying until their tokens expire."""
    _apply_data_dir(data_dir)
    from cornerstone.bff.auth.keys import rotate_keyring

    settings = _bff_settings()
    if settings.jwt_signing_key:
        raise CliError(
            "the signing key comes from CORNERSTONE_JWT_SIGNING_KEY: set a new one there and move the old one "
            "to CORNERSTONE_JWT_PREVIOUS_KEYS"
        )
    ring = rotate_keyring(settings.data_dir, settings.access_token_ttl_seconds)
    typer.echo(f"signing key is now {ring.signing.kid}; verifying with {', '.join(k.kid for k in ring.keys)}")
    typer.echo("restart the BFF processes (one at a time) to sign with the new key")


@evidence_app.command("public-key")
def evidence_public_key(data_dir: DataDir = None) -> None:
    """Print the public key (PEM) that verifies this data dir's evidence packs; creates the key pair
    if the kernel has not yet."""
    _apply_data_dir(data_dir)
    from cornerstone.kernel.evidence_pack.signing import load_or_create_signer, public_key_pem

    typer.echo(public_key_pem(load_or_create_signer(_kernel_settings().data_dir).public_key), nl=False)


@evidence_app.command("verify")
def evidence_verify(
    pack: Annotated[Path, typer.Argument(help="The evidence pack (zip) to check.")],
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="PEM public key of the signer (default: the data dir's).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Check a pack offline: its signature, every member's SHA-256 and size, and the event chain.
    Exit 0 if all holds, 1 naming every problem, 2 if the pack or key cannot be read."""
    _apply_data_dir(data_dir)
    from cornerstone.kernel.evidence_pack.signing import existing_public_key, load_public_key_pem
    from cornerstone.kernel.evidence_pack.verify import NotAPack, verify_pack

    if public_key is not None:
        try:
            key = load_public_key_pem(public_key.read_bytes())
        except (OSError, ValueError) as exc:
            raise CliError(f"--public-key {public_key}: {_first_line(exc)}") from None
    else:
        data_dir_key = existing_public_key(_kernel_settings().data_dir)
        if data_dir_key is None:
            raise CliError("this data dir has no evidence signing key: pass the signer's --public-key")
        key = data_dir_key
    try:
        report = verify_pack(pack.read_bytes(), key)
    except OSError as exc:
        raise CliError(f"{pack}: {exc.strerror or _first_line(exc)}") from None
    except NotAPack as exc:
        raise CliError(f"{pack}: {exc}") from None
    if report.ok:
        typer.echo(f"ok: {report.summary()}")
        return
    for problem in report.problems:
        typer.echo(f"BAD  {problem}")
    raise typer.Exit(1)


@validate_app.command("observability")
def validate_observability(
    url: Annotated[str, typer.Option("--url", help="Base URL of the BFF, e.g. http://127.0.0.1:8000.")],
    kernel_url: Annotated[str, typer.Option("--kernel-url", help="Base URL of the kernel.")] = "http://127.0.0.1:8001",
    metrics_token: Annotated[
        str | None, typer.Option("--metrics-token", help="Default: the services' (env, else <data_dir>/secrets).")
    ] = None,
    admin_token: Annotated[
        str | None, typer.Option("--admin-token", envvar="CORNERSTONE_VALIDATE_ADMIN_TOKEN", help="An admin's token.")
    ] = None,
    admin_email: Annotated[str | None, typer.Option("--admin-email", help="Sign in as this admin instead.")] = None,
    admin_password: Annotated[
        str | None, typer.Option("--admin-password", envvar="CORNERSTONE_VALIDATE_ADMIN_PASSWORD", show_default=False)
    ] = None,
    user_token: Annotated[
        str | None,
        typer.Option("--user-token", envvar="CORNERSTONE_VALIDATE_USER_TOKEN", help="A non-admin's token."),
    ] = None,
    user_email: Annotated[str | None, typer.Option("--user-email", help="Sign in as this non-admin instead.")] = None,
    user_password: Annotated[
        str | None, typer.Option("--user-password", envvar="CORNERSTONE_VALIDATE_USER_PASSWORD", show_default=False)
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds each request may take.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Check headers, request ids, trace context, problems, health, /metrics, the debug endpoints and
    rate-limit fields of a running BFF and kernel. Without a non-admin user, the refusal checks are
    skipped. Exit 0 if none fails, 1 naming each failure, 2 on a usage error or a BFF that does not answer."""
    _apply_data_dir(data_dir)
    from cornerstone.ops import validate_observability as observability

    try:
        target = observability.target_from_options(
            url=url,
            kernel_url=kernel_url,
            metrics_token=metrics_token,
            admin=observability.Credentials(admin_token, admin_email, admin_password),
            user=observability.Credentials(user_token, user_email, user_password),
            timeout=timeout,
        )
        report = observability.validate(target)
    except (observability.UsageError, observability.Unreachable) as exc:
        raise CliError(str(exc)) from None
    typer.echo(observability.render(report, as_json=as_json))
    if not report.passed:
        raise typer.Exit(1)


def _report(reports: list[OrgReport], noun: str) -> None:
    from cornerstone.ops.verify import describe

    lines, ok = describe(reports, noun)
    for line in lines:
        typer.echo(line)
    if not ok:
        raise typer.Exit(1)


@app.command()
def bff(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    kernel_url: Annotated[str | None, typer.Option(help="Base URL of the kernel.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the BFF (public API) in the foreground."""
    _apply_data_dir(data_dir)
    if kernel_url:
        os.environ["CORNERSTONE_KERNEL_URL"] = kernel_url
    from cornerstone.bff.app import create_app
    from cornerstone.kit.service_app import serve

    settings = _bff_settings()
    serve(create_app(settings), host or settings.bff_host, port if port is not None else settings.bff_port)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply both services' migrations (kernel and BFF databases)."""
    _apply_data_dir(data_dir)
    _migrate_both()
    typer.echo("migrations applied: kernel, bff")


def _migrate_both() -> None:
    from cornerstone.bff.app import migrate as migrate_bff
    from cornerstone.kernel.app import migrate as migrate_kernel

    migrate_kernel(_kernel_settings())
    migrate_bff(_bff_settings())


@app.command()
def demo(
    password: Annotated[
        str | None, typer.Option(help="Demo users' password (else CORNERSTONE_DEMO_PASSWORD, else generated).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Seed org "Demo Capital" with one user per role and a dozen deals over the stages."""
    _apply_data_dir(data_dir)
    _migrate_both()
    _seed_demo(password or os.environ.get("CORNERSTONE_DEMO_PASSWORD"))


def _seed_demo(password: str | None) -> str:
    import asyncio

    from cornerstone.ops.demo import DEMO_USERS, demo_exists, demo_password, seed_demo_sync

    bff_settings = _bff_settings()
    if asyncio.run(demo_exists(bff_settings)):
        raise CliError('the demo org "Demo Capital" already exists in this data dir')
    secret = demo_password(bff_settings, password)
    seed_demo_sync(bff_settings, _kernel_settings(), secret)
    typer.echo('demo org "Demo Capital" created; users: ' + ", ".join(email for email, _ in DEMO_USERS))
    return secret


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="The organization's name.")],
    admin_email: Annotated[str, typer.Option(help="Email of its first admin.")],
    password: Annotated[str | None, typer.Option(help="The admin's password (else generated and printed).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an organization and its first admin."""
    _apply_data_dir(data_dir)
    import secrets

    from pydantic import ValidationError

    from cornerstone.bff.auth.passwords import password_problem
    from cornerstone.bff.authz.permissions import Role
    from cornerstone.bff.users.schemas import UserCreate
    from cornerstone.kit.problems import AppError
    from cornerstone.ops.orgs import create_org_sync

    clean_name = name.strip()
    if not 1 <= len(clean_name) <= 200:
        raise CliError("--name must be 1 to 200 characters")
    generated = password is None
    secret = password or secrets.token_urlsafe(18)
    if (problem := password_problem(secret)) is not None:
        raise CliError(f"--password {problem}")
    try:
        UserCreate(email=admin_email, role=Role.ADMIN)
    except ValidationError:
        raise CliError("--admin-email is not a valid email address") from None
    _migrate_both()
    try:
        created = create_org_sync(_bff_settings(), name=clean_name, admin_email=admin_email, admin_password=secret)
    except AppError as exc:
        raise CliError(exc.detail) from None
    typer.echo(f"org {created.org_id} created; admin {admin_email.lower()} ({created.admin_id})")
    if generated:
        typer.echo(f"admin password (shown once): {secret}")


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface for the public API.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the public API.")] = 8000,
    kernel_port: Annotated[int, typer.Option(help="Port of the kernel.")] = 8001,
    data_dir: DataDir = None,
    no_demo: Annotated[bool, typer.Option("--no-demo", help="Do not seed demo data.")] = False,
) -> None:
    """Migrate, seed the demo on an empty data dir, and run kernel + BFF until Ctrl-C."""
    _apply_data_dir(data_dir)
    import asyncio

    from cornerstone.ops.demo import DEMO_USERS, demo_exists, demo_password
    from cornerstone.ops.supervisor import Child, child_env, run_stack

    _migrate_both()
    bff_settings = _bff_settings()
    password: str | None = None
    if not no_demo:
        if asyncio.run(demo_exists(bff_settings)):
            password = demo_password(bff_settings, os.environ.get("CORNERSTONE_DEMO_PASSWORD"))
        elif not asyncio.run(_any_org(bff_settings)):
            password = _seed_demo(os.environ.get("CORNERSTONE_DEMO_PASSWORD"))
    env = child_env(
        os.environ,
        {
            "CORNERSTONE_DATA_DIR": str(bff_settings.data_dir.resolve()),
            "CORNERSTONE_KERNEL_URL": f"http://127.0.0.1:{kernel_port}",
        },
    )
    public_url = f"http://{host}:{port}"

    def announce() -> None:
        typer.echo(
            f"\nCornerstone is running: {public_url}  (API: {public_url}/api, schema: {public_url}/api/openapi.json)"
        )
        typer.echo(f"Open {public_url} in a browser and sign in: an lp lands on the portfolio, others on the pipeline.")
        if password is not None:
            typer.echo("demo logins (password for all: " + password + "):")
            for email, role in DEMO_USERS:
                typer.echo(f"  {role.value:<8} {email}")
        typer.echo("Ctrl-C stops everything.")

    exit_code = run_stack(
        env=env,
        children=[
            Child(
                "kernel",
                ["kernel", "--host", "127.0.0.1", "--port", str(kernel_port)],
                ready_url=f"http://127.0.0.1:{kernel_port}/readyz",
            ),
            Child(
                "BFF",
                ["bff", "--host", host, "--port", str(port)],
                ready_url=f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/readyz",  # noqa: S104
            ),
        ],
        on_ready=announce,
    )
    raise typer.Exit(exit_code)


async def _any_org(settings: BffSettings) -> bool:
    from sqlalchemy import select

    from cornerstone.bff.models import OrgRow
    from cornerstone.kit.db import Database

    database = Database(settings.resolved_bff_migration_database_url())
    try:
        async with database.session(all_orgs=True) as session:
            return (await session.execute(select(OrgRow.id).limit(1))).first() is not None
    finally:
        await database.dispose()


@app.command()
def docs(
    out: Annotated[Path, typer.Option(help="Directory of the generated docs.")] = Path("docs"),
    check: Annotated[bool, typer.Option("--check", help="Fail if the committed docs differ.")] = False,
) -> None:
    """Generate docs/STATE_MACHINE.md from the state machine table."""
    from cornerstone.ops.docs import GENERATED_DOCS

    stale = []
    for name, render in GENERATED_DOCS.items():
        path = out / name
        content = render()
        if check:
            if not path.exists() or path.read_text() != content:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            typer.echo(f"wrote {path}")
    if stale:
        raise CliError("generated docs are out of date (run `cornerstone docs`): " + ", ".join(stale))


def main() -> None:
    try:
        app()
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator, never a traceback
        print(f"error: {type(exc).__name__}: {_first_line(exc)}", file=sys.stderr)
        sys.exit(1)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else "unexpected failure"
