"""Renders a Markdown document with a highlighted code block, using two PyPI packages."""

import os
import sys

import markdown
import pygments
from pygments import highlight
from pygments.formatters import TerminalFormatter
from pygments.lexers import PythonLexer

from greeting import greeting

DOC = """# Report

Rendered by *markdown* {md} with **pygments** {pg}.
"""


def main():
    print(greeting())
    print(markdown.markdown(DOC.format(md=markdown.__version__, pg=pygments.__version__)))
    print(highlight("print('hi')", PythonLexer(), TerminalFormatter()).strip())
    print(f"cwd={os.getcwd()}")
    print(f"mode={os.environ.get('APP_MODE')} home={os.environ.get('HOME')}")
    print(f"executable={sys.executable} args={sys.argv[1:]}")


if __name__ == "__main__":
    main()
