import os


def hello() -> str:
    return f"hello from {os.environ.get('SHOP_NAME', 'the shop')}"
