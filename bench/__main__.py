"""Entry point for ``python -m bench``."""


def main() -> None:
    """Say that there is nothing to measure yet."""
    print("no benchmarks yet")


if __name__ == "__main__":
    main()
