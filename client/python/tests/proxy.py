"""A TCP proxy between a client and the service that can hang like a frozen service: while
blackholed it accepts connections and reads what both sides send, but forwards nothing and closes
nothing; healed, it forwards what it held, in order, so every connection is intact. With a `delay` it
forwards each chunk that many seconds after it arrived, like a slow network or a loaded service.
It counts the connections and the bytes clients send, so a test can tell whether a client sent
anything."""

from __future__ import annotations

import asyncio
from types import TracebackType


class Proxy:
    """Forwards `127.0.0.1:<port>` (its `endpoint`) to `127.0.0.1:<target>`."""

    def __init__(self, target: int) -> None:
        self._target = target
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self.connections = 0
        self.received = 0
        """Bytes sent by clients, forwarded or held."""
        self.delay = 0.0
        """Seconds each chunk, either way, is held before it is forwarded (set at its arrival)."""

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def blackhole(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        self._flowing.set()

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(client_writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            service_reader, service_writer = await asyncio.open_connection("127.0.0.1", self._target)
            self._writers.append(service_writer)
            await asyncio.gather(
                self._pipe(client_reader, service_writer, counted=True),
                self._pipe(service_reader, client_writer, counted=False),
            )
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            # Torn down by __aexit__: end normally, or Python 3.11's start_server callback logs
            # the cancellation as an error.
            pass
        finally:
            self._tasks.discard(task)
            client_writer.close()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, counted: bool
    ) -> None:
        """Reads `source` always; writes to `sink` only while flowing, each chunk once its delay
        has passed (None: end of stream)."""
        loop = asyncio.get_running_loop()
        held: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def read() -> None:
            while data := await source.read(65536):
                if counted:
                    self.received += len(data)
                held.put_nowait((loop.time() + self.delay, data))
            held.put_nowait(None)

        async def write() -> None:
            while (chunk := await held.get()) is not None:
                due, data = chunk
                await asyncio.sleep(max(0.0, due - loop.time()))
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
            await self._flowing.wait()
            sink.close()

        await asyncio.gather(read(), write())
