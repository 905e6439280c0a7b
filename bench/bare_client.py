"""The delivery baseline: a bare aiohttp client that posts what the emulator would post
(the same headers and a 100-byte body) to a target, with a fixed number in flight, in a
process of its own. What it shows is how fast this machine can deliver at all.

    python bench/bare_client.py URL COUNT [--in-flight 100]
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp

BODY = b"x" * 100


async def post_all(url: str, count: int, in_flight: int) -> None:
    remaining = iter(range(count))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for number in remaining:
                headers = {  # built per request, as the emulator builds them per attempt
                    "User-Agent": "Google-Cloud-Tasks",
                    "X-CloudTasks-QueueName": f"q{number % 20}",
                    "X-CloudTasks-TaskName": str(number),
                    "X-CloudTasks-TaskRetryCount": "0",
                    "X-CloudTasks-TaskExecutionCount": "0",
                    "X-CloudTasks-TaskETA": "1800000000.000000",
                }
                async with session.post(url, data=BODY, headers=headers) as response:
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(in_flight)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("--in-flight", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(post_all(args.url, args.count, args.in_flight))
