"""The duck service: prints a greeting."""


def greet(name: str) -> str:
    return f"quack, {name}"


if __name__ == "__main__":
    print(greet("world"))
