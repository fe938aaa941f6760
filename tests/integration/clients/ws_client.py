"""WebSocket client for the integration tests, on Debian's python3-websockets: prints what it saw as JSON."""
import asyncio
import json
import sys

import websockets


async def main(url):
    seen = {}
    async with websockets.connect(url) as ws:
        seen["first"] = await ws.recv()
        await ws.send("héllo from python")
        seen["echo"] = await ws.recv()
        await ws.send(iter(["Hello, ", "fragments"]))          # one message in two fragments
        seen["fragmented"] = await ws.recv()
        await ws.send(bytes([0, 1, 2, 3]))
        seen["binary"] = (await ws.recv()).hex()
        pong = await ws.ping(b"p")
        await asyncio.wait_for(pong, 5)
        seen["pong"] = True
        await ws.send("close")
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as e:
            seen["close_code"] = e.code
    print(json.dumps(seen))


asyncio.run(main(sys.argv[1]))
