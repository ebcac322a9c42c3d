import unittest

from main import greet


class GreetTest(unittest.TestCase):
    def test_greet(self):
        self.assertEqual(greet("duck"), "quack, duck")
