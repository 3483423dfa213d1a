"""The store: Parquet files under one data directory, queried in-process with DuckDB.

Layout (see ARCHITECTURE.md, "The store")::

    <root>/raw/<period>/<provider>/<sha256>.<ext>      every submission, byte-for-byte, immutable
    <root>/tables/<name>.parquet                       small tables (submissions, quarantine, ...)
    <root>/tables/episodes_submitted/<provider>/<period>.parquet
                                                       accepted rows of the current submission
    <root>/tables/episodes.parquet                     consolidated canonical episodes + derived

Every write goes to a temporary file in the same directory and is renamed into place, so readers
never see half a file and a failed run leaves the previous state intact. Only this module and
``report`` touch files.

Crash safety: a process killed mid-write leaves its temporary file (``.<name>.tmp-<hex>``); the
next writer removes it when it takes the write lock (:meth:`Store.writing`) and logs it. A table
built from others (``episodes`` from ``episodes_submitted``) has a build record
(``tables/.<name>.built.json``) naming the state of its inputs, so a build that was killed
before it finished is seen as outdated (:meth:`Store.outdated`) and redone.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
from filelock import FileLock, Timeout

from acm_helpers.core.config import Program, load_program
from acm_helpers.core.errors import StoreError
from acm_helpers.store.limits import duckdb_connect, out_of_memory

EPISODES = "episodes"
SUPPRESSED_TRUTH = "suppressed_truth"  # internal: the audit's true numbers of suppressed cells
SUBMITTED = "episodes_submitted"
LOCK_FILE = ".write.lock"
LOCK_WAIT_S = 600.0  # how long a writer waits for another one before giving up
TMP_NAME = re.compile(r"^\..+\.tmp-[0-9a-f]{32}$")  # what atomic_write and StagedParquet leave
STARTED = time.time()  # no temporary file this process writes is older than this
FAULT_ENV = "ACM_FAULT_AT"

log = logging.getLogger(__name__)


def fault_point(stage: str, path: Path) -> None:
    """Test seam: kill this process (SIGKILL, no clean-up) when ``ACM_FAULT_AT`` matches
    ``"<stage>:<path>"`` (an ``fnmatch`` pattern, e.g. ``after:*/tables/submissions.parquet``).

    Why: crash safety is a claim about every commit point, so tests must be able to stop a real
    ``acm`` process exactly there, as a power cut or ``kill -9`` would. Stages: ``writing`` (a
    staged chunk is on disk), ``before`` (a temporary file is complete, not yet renamed) and
    ``after`` (renamed into place). Unset (always, outside tests), this is one dictionary look-up.
    """
    at = os.environ.get(FAULT_ENV)
    if at and fnmatch.fnmatchcase(f"{stage}:{path}", at):
        os.kill(os.getpid(), signal.SIGKILL)


def one_writer(what: str) -> Callable:
    """Decorate a function that changes a store: it runs holding that store's write lock
    (:meth:`Store.writing`); the store is its first :class:`Store` argument."""

    def wrap(func: Callable) -> Callable:
        @functools.wraps(func)
        def locked(*args, **kwargs):
            store = next(a for a in (*args, *kwargs.values()) if isinstance(a, Store))
            with store.writing(what):
                return func(*args, **kwargs)

        return locked

    return wrap


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hash a file in chunks, so a large submission never has to fit in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` then rename ``tmp`` onto ``path``; on failure remove ``tmp``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        write(tmp)
        fault_point("before", path)
        os.replace(tmp, path)
        fault_point("after", path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


CHUNK_ROWS = 1_000_000  # rows per slice when a large frame is written (see write_parquet)


def write_parquet(frame: pd.DataFrame, path: Path, chunk_rows: int = CHUNK_ROWS) -> Path:
    """Write a frame to Parquet atomically.

    A frame of more than ``chunk_rows`` rows is written slice by slice (one Arrow table of
    ``chunk_rows`` rows at a time, same schema and same values as one write): converting a
    frame of ten million episodes to Arrow in one piece would hold a second copy of it in
    memory, a slice holds a tenth of one.
    """
    if len(frame) <= chunk_rows:
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return atomic_write(path, lambda tmp: _write_slices(frame, tmp, chunk_rows))


def _write_slices(frame: pd.DataFrame, path: Path, chunk_rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, len(frame), chunk_rows):
            piece = frame.iloc[start : start + chunk_rows]
            writer.write_table(pa.Table.from_pandas(piece, schema=schema, preserve_index=False))


def write_parts(
    frame: pd.DataFrame, paths: list[Path], sizes: list[int], chunk_rows: int = CHUNK_ROWS
) -> None:
    """Write consecutive row ranges of ``frame`` (``sizes[i]`` rows to ``paths[i]``), each
    atomically, with one Arrow conversion per ``chunk_rows`` rows instead of one per file.

    Why: ``load_canonical`` writes thousands of provider x month partitions; converting each
    small frame to Arrow cost most of its time at 1,000 providers. Each file holds the same
    schema and values as ``write_parquet`` of its rows (the schema is the whole frame's, taken
    from its first rows), and a batch holds at most about ``chunk_rows`` rows in Arrow.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(frame.iloc[:chunk_rows], preserve_index=False)
    start, i = 0, 0
    while i < len(sizes):
        j, rows = i, 0
        while j < len(sizes) and (rows == 0 or rows + sizes[j] <= chunk_rows):
            rows, j = rows + sizes[j], j + 1
        table = pa.Table.from_pandas(
            frame.iloc[start : start + rows], schema=schema, preserve_index=False
        )
        offset = 0
        for path, n in zip(paths[i:j], sizes[i:j], strict=True):
            piece = table.slice(offset, n)
            atomic_write(path, lambda tmp, piece=piece: pq.write_table(piece, tmp))
            offset += n
        start, i = start + rows, j


class StagedParquet:
    """A Parquet file written chunk by chunk to a temporary name, renamed into place on commit.

    Why: intake streams large submissions; rows go to disk as they are validated (memory stays
    bounded), yet readers see the new partition only once the whole file has been accepted.
    Leaving the ``with`` block without ``commit()`` discards the temporary file.
    """

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
        self.rows = 0
        self._writer = None
        self._schema = None

    def write(self, frame: pd.DataFrame) -> None:
        """Append rows (same columns and dtypes as the first chunk)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        if self._writer is None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.tmp, table.schema)
        self._writer.write_table(table)
        self.rows += len(frame)
        fault_point("writing", self.path)

    def commit(self) -> Path:
        """Close the file and rename it onto the partition's path."""
        if self._writer is None:
            raise StoreError(
                f"{self.path}: nothing was written; refusing to replace it with an empty file."
            )
        self._writer.close()
        self._writer = None
        fault_point("before", self.path)
        os.replace(self.tmp, self.path)
        fault_point("after", self.path)
        return self.path

    def discard(self) -> None:
        """Drop the temporary file (the partition keeps its previous content)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.tmp.exists():
            self.tmp.unlink()

    def __enter__(self) -> StagedParquet:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


class Store:
    """One data directory. Cheap to create; holds no open connection between calls."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.raw_dir = self.root / "raw"
        self.tables_dir = self.root / "tables"

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- one writer at a time ---------------------------------------------------------------
    @contextmanager
    def writing(self, what: str, wait: float | None = None) -> Iterator[None]:
        """Hold the data directory's write lock while ``what`` changes it.

        Why: intake, the metrics refresh and action items read a table, change it and write it
        back; two ``acm`` commands doing that at once on one data directory (two analysts, or
        cron and a person) could each drop the other's rows. So writers take turns; readers
        need no lock (every write is an atomic rename). The lock is the operating system's
        (``flock`` through filelock): it goes away with a crashed process, and a writer may
        nest (``intake_files`` -> ``intake_file`` -> ``rebuild_episodes``). It guards processes,
        not threads of one process; on network storage it is only as good as the file system's
        ``flock``.

        The outermost acquisition also removes stale temporary files (:meth:`clean_stale_tmp`):
        holding the lock, no other writer is alive to own them.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK_FILE
        lock = FileLock(path, is_singleton=True, thread_local=False)
        wait = LOCK_WAIT_S if wait is None else wait
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise StoreError(
                f"{self.root}: another acm command has been changing this data directory for "
                f"over {wait:.0f} s (lock {path}), so {what} did not start. Wait for it to "
                "finish (is an `acm intake`, `acm metrics` or `acm action` still running?), "
                "then run this again."
            ) from None
        try:
            if lock.lock_counter == 1:  # outermost: no writer of this process is mid-write
                self.clean_stale_tmp()
            yield
        finally:
            lock.release()

    def clean_stale_tmp(self, older_than: float | None = None) -> list[Path]:
        """Remove the temporary files a killed writer left under ``raw/`` and ``tables/``.

        Why: a process killed mid-write (``kill -9``, power cut, out of memory) cannot remove
        its ``.<name>.tmp-<hex>`` file, and nothing else would: the store would keep the dead
        bytes forever. Call it holding the write lock (:meth:`writing` does, once per
        command), so no live writer of another process owns them; files modified after
        ``older_than`` (default: when this process started) are kept, in case a writer that
        does not take the lock is at work. Each removal is logged (warning), naming the file.

        Returns:
            The files removed.
        """
        cutoff = STARTED if older_than is None else older_than
        removed = []
        for top in (self.raw_dir, self.tables_dir):
            for folder, _, names in os.walk(top):
                for name in names:
                    path = Path(folder) / name
                    if not TMP_NAME.match(name):
                        continue
                    try:
                        mtime = path.stat().st_mtime
                        if mtime >= cutoff:
                            continue
                        path.unlink()
                    except FileNotFoundError:
                        continue
                    removed.append(path)
                    log.warning(
                        "%s: removed %s, a temporary file left by an acm command stopped "
                        "mid-write (last written %s); the file it was replacing is unchanged.",
                        self.root,
                        path.relative_to(self.root),
                        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime)),
                    )
        return removed

    # -- raw submissions --------------------------------------------------------------------
    def keep_raw(self, source: Path, provider: str, period: str, sha: str | None = None) -> Path:
        """Copy a submission byte-for-byte under ``raw/``; an existing copy is left untouched."""
        sha = sha or sha256_file(source)
        ext = "".join(source.suffixes[-1:]).lower() or ".bin"
        dest = self.raw_dir / period / provider / f"{sha}{ext}"
        if not dest.exists():
            atomic_write(dest, lambda tmp: shutil.copyfile(source, tmp))
            os.chmod(dest, 0o444)
        return dest

    # -- tables -----------------------------------------------------------------------------
    def table_path(self, name: str, part: str | None = None) -> Path:
        """Path of a table file (or of one partition file of a partitioned table)."""
        if part is None:
            return self.tables_dir / f"{name}.parquet"
        return self.tables_dir / name / f"{part}.parquet"

    def part_source(self, name: str, folder: str) -> str | None:
        """SQL for the rows of one folder of a partitioned table (``quality`` / a provider), or
        None when it has no files.

        Why: a query of the whole table's view opens every partition's footer (12,000 files for
        ``quality`` at 1,000 providers: seconds per packet) to find one provider's rows.
        """
        where = self.tables_dir / name / folder
        if not any(where.glob("*.parquet")):
            return None
        pattern = str(where / "*.parquet").replace("'", "''")
        return f"read_parquet('{pattern}', union_by_name=true)"

    def has_table(self, name: str) -> bool:
        """True when the table has a file or at least one partition."""
        return self.table_path(name).exists() or any((self.tables_dir / name).glob("**/*.parquet"))

    def write_table(self, name: str, frame: pd.DataFrame, part: str | None = None) -> Path:
        """Replace a table (or one partition of it) atomically."""
        return write_parquet(frame, self.table_path(name, part))

    def write_table_parts(
        self, name: str, frame: pd.DataFrame, parts: list[tuple[str, int]]
    ) -> None:
        """Replace many partitions of a table at once: ``frame`` holds their rows one partition
        after the other, ``parts`` names each partition and its row count, in that order
        (see :func:`write_parts`)."""
        paths = [self.table_path(name, part) for part, _ in parts]
        write_parts(frame, paths, [n for _, n in parts])

    def stage(self, name: str, part: str | None = None) -> StagedParquet:
        """Open a staged (chunked, atomic-on-commit) writer for a table or partition."""
        return StagedParquet(self.table_path(name, part))

    def read_table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Read a whole table (all partitions); an absent table is an empty frame."""
        single = self.table_path(name)
        if single.exists():
            return pd.read_parquet(single, columns=columns)
        parts = sorted((self.tables_dir / name).glob("**/*.parquet"))
        if not parts:
            return pd.DataFrame(columns=columns or [])
        with duckdb_connect(self.root) as con:
            files = [str(p) for p in parts]
            rel = con.read_parquet(files, union_by_name=True)
            frame = rel.df()
        return frame[columns] if columns else frame

    def table_digest(self, name: str) -> str:
        """SHA-256 of a single-file table (what the metrics version hashes); StoreError if absent."""
        path = self.table_path(name)
        if not path.exists():
            raise StoreError(
                f"{self}: no {name} table yet. Run `acm intake FILES --period YYYY-MM` "
                "(or `acm demo`) first."
            )
        return sha256_file(path)

    def table_stamp(self, name: str) -> float | None:
        """Modification time of a single-file table (None when absent): a cache key for
        readers that keep a table in memory across jobs."""
        path = self.table_path(name)
        return path.stat().st_mtime if path.exists() else None

    def tables_stamp(self, names: Iterable[str]) -> tuple:
        """Identity of the tables' files as they are now (inode, modification time in
        nanoseconds and size, or None when absent): a key for readers that keep frames in memory
        and must never serve a table that has since been replaced. Every table write is a
        rename of a new file, so a rewritten table has a new inode."""
        out = []
        for name in names:
            path = self.table_path(name)
            if not path.exists():
                path = self.tables_dir / name  # a partitioned table: its folder
            try:
                st = path.stat()
            except FileNotFoundError:
                out.append((name, None))
                continue
            out.append((name, st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(out)

    # -- built tables: what they were built from -------------------------------------------
    def inputs_stamp(self, name: str) -> str:
        """Digest of a partitioned table's files as they are now (path, size, modification time).

        Why stat, not content: ``acm metrics`` asks on every run whether ``episodes`` is behind
        its partitions, and hashing thousands of partition files would cost more than the
        answer. Every partition write is a rename of a new file, so a changed partition has a
        new size or modification time. Copying a store without keeping modification times
        (``cp -r``) only makes the next command rebuild once.
        """
        h = hashlib.sha256()
        base = self.tables_dir / name
        for path in sorted(base.glob("**/*.parquet")):
            st = path.stat()
            h.update(f"{path.relative_to(base)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def build_record_path(self, name: str) -> Path:
        """Where the build record of table ``name`` is kept (a hidden file next to it)."""
        return self.tables_dir / f".{name}.built.json"

    def record_build(self, name: str, inputs: Mapping[str, str], **facts: str | None) -> None:
        """Say from which inputs the table ``name`` (just written) was built.

        Written after the table, atomically: a process killed between the two leaves a record
        that does not match the table file, so the table counts as outdated and is rebuilt.

        Args:
            name: the built table (single file).
            inputs: input table -> its :meth:`inputs_stamp` taken before reading it.
            facts: settings of the build a rebuild must reuse (e.g. ``as_of``).
        """
        st = self.table_path(name).stat()
        record = {"table": [st.st_size, st.st_mtime_ns], "inputs": dict(inputs), **facts}
        text = json.dumps(record, sort_keys=True)
        atomic_write(self.build_record_path(name), lambda tmp: tmp.write_text(text))

    def build_record(self, name: str) -> dict:
        """The table's build record (empty when there is none or it cannot be read); key
        ``matches`` says whether it describes the table file as it is now (False when the
        table is gone: its facts, such as ``as_of``, still tell a rebuild how it was built)."""
        try:
            record = json.loads(self.build_record_path(name).read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(record, dict):
            return {}
        path = self.table_path(name)
        st = path.stat() if path.exists() else None
        record["matches"] = st is not None and record.get("table") == [st.st_size, st.st_mtime_ns]
        return record

    def outdated(self, name: str, source: str) -> bool:
        """True when table ``name`` must be rebuilt from the partitioned table ``source``.

        The rule: when ``source`` has partitions, ``name`` is current only if its build record
        matches the file and names the partitions exactly as they are now. So a partition
        committed after the last build, a build killed before its record was written, or a
        table written by other means all count as outdated. Without partitions there is
        nothing to build from, and a table written directly (tests, benchmarks) stands.
        """
        if not any((self.tables_dir / source).glob("**/*.parquet")):
            return False
        record = self.build_record(name)
        if not record.get("matches"):
            return True
        return record.get("inputs", {}).get(source) != self.inputs_stamp(source)

    def first_value(self, name: str, column: str) -> str | None:
        """The first row's value of one column (e.g. a table's ``version``); None when the
        table is absent or empty. Reads that column only."""
        if not self.table_path(name).exists():
            return None
        col = pd.read_parquet(self.table_path(name), columns=[column])[column]
        return str(col.iloc[0]) if len(col) else None

    def register(self, con: duckdb.DuckDBPyConnection, name: str, view: str | None = None) -> None:
        """Create a DuckDB view ``view`` (default ``name``) over a single-file table in ``con``.

        Why: the metrics engine scans episodes inside its own connection (a temporary table of
        the columns it needs); the store still decides where the file is.
        """
        path = self.table_path(name)
        if not path.exists():
            raise StoreError(
                f"{self}: no {name} table yet. Run `acm intake FILES --period YYYY-MM` "
                "(or `acm demo`) before `acm metrics`."
            )
        literal = "'" + str(path).replace("'", "''") + "'"
        ident = '"' + (view or name).replace('"', '""') + '"'
        con.execute(f"CREATE VIEW {ident} AS SELECT * FROM read_parquet({literal})")

    def client_ids(self) -> frozenset[str]:
        """Every client id in the episodes (the packet audit looks for them); empty when none."""
        if not self.table_path(EPISODES).exists():
            return frozenset()
        ids = self.read_table(EPISODES, columns=["client_id"])["client_id"]
        return frozenset(ids.dropna().astype(str).unique().tolist())

    def suppressed_truth(self, provider_id: str | None = None) -> pd.DataFrame:
        """The true numbers of the cells the engine suppressed (``schema.SUPPRESSED_TRUTH_COLUMNS``).

        Internal: only the packet audit reads this, to look for these numbers in what a provider
        receives. Written by ``metrics.engine.refresh`` with ``metric_values``; a StoreError
        when it has not run.
        """
        if not self.table_path(SUPPRESSED_TRUTH).exists():
            raise StoreError(
                f"{self}: no {SUPPRESSED_TRUTH} table: the metrics have not been refreshed with "
                "this version of acm. Run `acm metrics` (or `acm run`, which refreshes them)."
            )
        truth = self.read_table(SUPPRESSED_TRUTH)
        if provider_id is not None:
            truth = truth[truth["provider_id"] == provider_id].reset_index(drop=True)
        return truth

    def append_table(self, name: str, frame: pd.DataFrame) -> Path:
        """Append rows to a small single-file table (log tables) by atomic rewrite."""
        old = self.read_table(name)
        both = frame if old.empty else pd.concat([old, frame], ignore_index=True)
        return self.write_table(name, both)

    # -- queries ----------------------------------------------------------------------------
    def connect(self, only: str | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with a view per table in this store.

        ``only``: SQL text; views are created just for the tables it names. Why: a view over a
        partitioned table reads every partition's schema when it is created (thousands of
        files for ``episodes_submitted`` in a large program), which a query of ``metric_values``
        should not pay for.
        """
        con = duckdb_connect(self.root)
        if not self.tables_dir.exists():
            return con
        for entry in sorted(self.tables_dir.iterdir()):
            name = entry.stem if entry.suffix == ".parquet" else entry.name
            if only is not None and not re.search(rf"\b{re.escape(name)}\b", only):
                continue  # before looking inside: a partitioned table is thousands of files
            if entry.suffix == ".parquet":
                pattern = str(entry)
            elif entry.is_dir() and any(entry.glob("**/*.parquet")):
                pattern = str(entry / "**" / "*.parquet")
            else:
                continue
            pattern = pattern.replace("'", "''")
            con.execute(
                f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{pattern}', union_by_name=true)"
            )
        return con

    def query(
        self,
        sql: str,
        params: dict | list | None = None,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> pd.DataFrame:
        """Run one SQL query against the store's views and return a frame.

        ``con``: a connection from :meth:`connect` naming every table the query reads, for a
        caller that runs several queries (a packet's load): opening one costs about as much
        as a small query. Without it, a connection is opened for this query and closed."""
        if con is None:
            with self.connect(only=sql) as own:
                return self.query(sql, params, own)
        try:
            return con.execute(sql, params or {}).df()
        except duckdb.OutOfMemoryException as exc:
            raise out_of_memory(exc, f"{self}: a query") from None
        except duckdb.CatalogException as exc:
            raise StoreError(
                f"{self}: {exc}. Has intake been run for this data directory? "
                "Try `acm intake` (or `acm demo` for the demo program)."
            ) from exc

    def episodes(self) -> pd.DataFrame:
        """The consolidated canonical episodes (with derived columns)."""
        if not self.table_path(EPISODES).exists():
            raise StoreError(
                f"{self}: no episodes loaded yet. Run `acm intake FILES --period YYYY-MM` first."
            )
        return pd.read_parquet(self.table_path(EPISODES))


DEFAULT_PROGRAM = Path("parameters") / "program.yaml"


def find_program(
    program_path: str | Path | None = None, *, cwd: str | Path | None = None
) -> tuple[Path, Path]:
    """The program file to open and the project folder its relative paths are taken from.

    The one path rule of the CLI, the notebooks and Voilà (``open_store`` applies it):

    - A relative program path is taken from the working directory or, when it is not there,
      from the nearest folder above it that has it (as git finds its repository). That folder is
      the *project folder*; for an absolute path, the project folder is the working directory.
      So ``parameters/program.yaml`` opens the same file from the project root, from
      ``notebooks/`` (where JupyterLab starts a notebook's kernel) or from any other subfolder.
    - No program path: ``parameters/program.yaml`` found that way, else the demo program the
      package ships (``acm_helpers/parameters/program.yaml``), with the working directory as
      the project folder.
    - The store (see :func:`open_store`) is the data directory given, relative to the working
      directory, else the program's ``data_dir`` relative to the project folder.

    Raises:
        ConfigError: a relative path found neither in the working directory nor above it.
    """
    from acm_helpers.core import resources
    from acm_helpers.core.errors import ConfigError

    here = Path(cwd or Path.cwd()).resolve()
    if program_path is None or str(program_path) == "":
        found = _upwards(DEFAULT_PROGRAM, here)
        return found or (resources.demo_program(), here)
    path = Path(program_path).expanduser()
    if path.is_absolute():
        return path, here
    found = _upwards(path, here)
    if found is None:
        raise ConfigError(
            f"Program file {path} not found in {here} or any folder above it. Pass --program "
            "with an existing file (a relative path is taken from the working directory), or "
            "leave it out to use parameters/program.yaml (else the shipped demo program)."
        )
    return found


def _upwards(relative: Path, here: Path) -> tuple[Path, Path] | None:
    """``(file, folder)`` for the nearest folder, from ``here`` up, that has ``relative``."""
    for folder in (here, *here.parents):
        if (folder / relative).is_file():
            return folder / relative, folder
    return None


def resolve_paths(
    program_path: str | Path | None = None,
    data_dir: str | Path | None = None,
    *,
    cwd: str | Path | None = None,
) -> tuple[Path, Program, Path]:
    """The program file (absolute), its loaded program and its data directory (absolute), by
    the rule of :func:`find_program`; for callers that pass paths on (``acm run`` jobs)."""
    here = Path(cwd or Path.cwd()).resolve()
    path, project = find_program(program_path, cwd=here)
    program = load_program(path)
    if data_dir is not None and str(data_dir) != "":
        root = here / Path(data_dir).expanduser()
    else:
        root = program.data_path(project)
    return path.resolve(), program, Path(os.path.normpath(root))


def open_store(
    program_path: str | Path | None = None,
    data_dir: str | Path | None = None,
    *,
    cwd: str | Path | None = None,
) -> tuple[Program, Store]:
    """Load a program file and open its store: the one way the CLI, the notebooks and the
    explorer open a program, so a path means the same thing from each.

    Paths follow :func:`find_program`: a relative ``program_path`` from the working directory
    (or the nearest folder above it that has it); no path, ``parameters/program.yaml`` else the
    shipped demo program; the store is ``data_dir`` (relative to the working directory) or the
    program's ``data_dir`` relative to the project folder.

    Raises:
        ConfigError: the program file is missing or invalid.
    """
    _, program, root = resolve_paths(program_path, data_dir, cwd=cwd)
    return program, Store(root)
