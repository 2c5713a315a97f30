"""Generates the gRPC stubs from the repository's proto files while the package is built.

The stubs are never committed: `build_py` runs grpcio-tools' protoc on
`proto/mcp_config/v1/config.proto` (the repository's, `../../proto` from here, or the directory
named by `MCP_CONFIG_PROTO_DIR`) and writes `mcp_config/v1/config_pb2*.py` into the build
directory, so every wheel carries stubs of the contract it was built from. The generated package
keeps the proto package's name (`mcp_config.v1`), so the generated imports work unedited.
"""

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTO_FILE = "mcp_config/v1/config.proto"


def proto_dir() -> Path:
    """Where the .proto files are: the repository's `proto/` unless overridden."""
    root = Path(os.environ.get("MCP_CONFIG_PROTO_DIR", HERE.parent.parent / "proto"))
    if not (root / PROTO_FILE).is_file():
        raise SystemExit(
            f"{root / PROTO_FILE} not found: build from the mcp-config repository "
            "or set MCP_CONFIG_PROTO_DIR to its proto directory"
        )
    return root


def generate(proto_root: Path, out: Path) -> None:
    """Runs protoc (from grpcio-tools) for messages, typing stubs and the gRPC service."""
    import grpc_tools
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(proto_root / PROTO_FILE),
        ]
    )
    if status != 0:
        raise SystemExit(f"protoc failed on {PROTO_FILE} (exit {status})")
    package = out
    for part in Path(PROTO_FILE).parent.parts:
        package = package / part
        (package / "__init__.py").touch()


class BuildPyWithStubs(build_py):
    """`build_py` that also writes the generated stubs into the build directory."""

    def run(self) -> None:
        super().run()
        generate(proto_dir(), Path(self.build_lib))


setup(cmdclass={"build_py": BuildPyWithStubs})
