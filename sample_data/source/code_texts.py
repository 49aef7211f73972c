"""Hand-written Python tasks (MBPP-style) for Workbench's sample data.

Every task is (key, text, code, [three assert strings]).  ``make_sample_data.py --check`` executes
each solution against its asserts.  Weak tasks also carry a correct ``reference`` solution so the
checker can prove that their asserts are right and that the weak code is what fails.
All tasks and solutions were written for Workbench.
"""

from __future__ import annotations

from textwrap import dedent


def c(src: str) -> str:
    return dedent(src).strip("\n") + "\n"


POOL = [
    (
        "count_vowels",
        "Write a function that counts the vowels (a, e, i, o, u) in a string, ignoring case.",
        c("""
        def count_vowels(s):
            return sum(1 for ch in s.lower() if ch in "aeiou")
     """),
        [
            'assert count_vowels("Workbench") == 2',
            'assert count_vowels("AEIOU and y") == 6',
            'assert count_vowels("rhythm") == 0',
        ],
    ),
    (
        "c_to_f",
        "Write a function that converts a temperature from Celsius to Fahrenheit.",
        c("""
        def celsius_to_fahrenheit(celsius):
            return celsius * 9 / 5 + 32
     """),
        [
            "assert celsius_to_fahrenheit(0) == 32",
            "assert celsius_to_fahrenheit(100) == 212",
            "assert celsius_to_fahrenheit(-40) == -40",
        ],
    ),
    (
        "palindrome",
        "Write a function that checks whether a string is a palindrome, ignoring case, spaces and punctuation.",
        c("""
        def is_palindrome(text):
            cleaned = [ch.lower() for ch in text if ch.isalnum()]
            return cleaned == cleaned[::-1]
     """),
        [
            'assert is_palindrome("A man, a plan, a canal: Panama") is True',
            'assert is_palindrome("Never odd or even") is True',
            'assert is_palindrome("Workbench") is False',
        ],
    ),
    (
        "second_largest",
        "Write a function that returns the second largest distinct number in a list, or None if there is no such number.",
        c("""
        def second_largest(numbers):
            distinct = sorted(set(numbers), reverse=True)
            return distinct[1] if len(distinct) > 1 else None
     """),
        [
            "assert second_largest([4, 9, 2, 9, 7]) == 7",
            "assert second_largest([5, 5, 5]) is None",
            "assert second_largest([-3, -1, -2]) == -2",
        ],
    ),
    (
        "flatten",
        "Write a function that flattens an arbitrarily nested list of lists into a single flat list.",
        c("""
        def flatten(nested):
            flat = []
            for item in nested:
                if isinstance(item, list):
                    flat.extend(flatten(item))
                else:
                    flat.append(item)
            return flat
     """),
        [
            "assert flatten([1, [2, [3, [4]], 5]]) == [1, 2, 3, 4, 5]",
            "assert flatten([]) == []",
            'assert flatten([[["a"]], "b"]) == ["a", "b"]',
        ],
    ),
    (
        "word_freq",
        "Write a function that returns a dictionary mapping each lower-cased word in a sentence to the number of times it appears. Ignore the punctuation characters . , ! and ?.",
        c("""
        def word_frequencies(text):
            counts = {}
            for word in text.lower().split():
                word = word.strip(".,!?")
                if word:
                    counts[word] = counts.get(word, 0) + 1
            return counts
     """),
        [
            'assert word_frequencies("The cat saw the dog.") == {"the": 2, "cat": 1, "saw": 1, "dog": 1}',
            'assert word_frequencies("Go, go, GO!") == {"go": 3}',
            'assert word_frequencies("") == {}',
        ],
    ),
    (
        "chunk",
        "Write a function that splits a list into consecutive chunks of size n; the last chunk may be shorter.",
        c("""
        def chunk(items, n):
            return [items[i:i + n] for i in range(0, len(items), n)]
     """),
        [
            "assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]",
            "assert chunk([], 3) == []",
            'assert chunk(["a", "b", "c"], 3) == [["a", "b", "c"]]',
        ],
    ),
    (
        "rle_encode",
        'Write a function that run-length encodes a string, writing each character followed by the length of its run, so "aaab" becomes "a3b1".',
        c("""
        def rle_encode(s):
            if not s:
                return ""
            out = []
            current, count = s[0], 1
            for ch in s[1:]:
                if ch == current:
                    count += 1
                else:
                    out.append(f"{current}{count}")
                    current, count = ch, 1
            out.append(f"{current}{count}")
            return "".join(out)
     """),
        [
            'assert rle_encode("aaabccdddd") == "a3b1c2d4"',
            'assert rle_encode("") == ""',
            'assert rle_encode("xyz") == "x1y1z1"',
        ],
    ),
    (
        "rle_decode",
        'Write a function that decodes a run-length encoded string such as "a3b12" (a character followed by a count that may have several digits) back into the original text.',
        c("""
        def rle_decode(encoded):
            out = []
            i = 0
            while i < len(encoded):
                ch = encoded[i]
                i += 1
                digits = ""
                while i < len(encoded) and encoded[i].isdigit():
                    digits += encoded[i]
                    i += 1
                out.append(ch * int(digits))
            return "".join(out)
     """),
        [
            'assert rle_decode("a3b1c2") == "aaabcc"',
            'assert rle_decode("x12") == "x" * 12',
            'assert rle_decode("") == ""',
        ],
    ),
    (
        "leap_year",
        "Write a function that tells whether a year is a leap year in the Gregorian calendar.",
        c("""
        def is_leap_year(year):
            return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
     """),
        [
            "assert is_leap_year(2024) is True",
            "assert is_leap_year(1900) is False",
            "assert is_leap_year(2000) is True",
        ],
    ),
    (
        "fizzbuzz",
        'Write a function that returns the FizzBuzz sequence from 1 to n as a list of strings: "Fizz" for multiples of 3, "Buzz" for multiples of 5, "FizzBuzz" for multiples of both, and the number otherwise.',
        c("""
        def fizzbuzz(n):
            result = []
            for i in range(1, n + 1):
                word = ("Fizz" if i % 3 == 0 else "") + ("Buzz" if i % 5 == 0 else "")
                result.append(word or str(i))
            return result
     """),
        [
            'assert fizzbuzz(5) == ["1", "2", "Fizz", "4", "Buzz"]',
            'assert fizzbuzz(15)[-1] == "FizzBuzz"',
            "assert fizzbuzz(0) == []",
        ],
    ),
    (
        "gcd",
        "Write a function that computes the greatest common divisor of two non-negative integers using Euclid's algorithm, without using the math module.",
        c("""
        def gcd(a, b):
            while b:
                a, b = b, a % b
            return a
     """),
        ["assert gcd(48, 18) == 6", "assert gcd(17, 5) == 1", "assert gcd(0, 9) == 9"],
    ),
    (
        "lcm_list",
        "Write a function that returns the least common multiple of a non-empty list of positive integers.",
        c("""
        from math import gcd

        def lcm_of_list(numbers):
            result = numbers[0]
            for n in numbers[1:]:
                result = result * n // gcd(result, n)
            return result
     """),
        ["assert lcm_of_list([4, 6]) == 12", "assert lcm_of_list([2, 3, 5, 7]) == 210", "assert lcm_of_list([9]) == 9"],
    ),
    (
        "is_prime",
        "Write a function that checks whether an integer is a prime number.",
        c("""
        def is_prime(n):
            if n < 2:
                return False
            i = 2
            while i * i <= n:
                if n % i == 0:
                    return False
                i += 1
            return True
     """),
        ["assert is_prime(2) is True", "assert is_prime(91) is False", "assert is_prime(97) is True"],
    ),
    (
        "sieve",
        "Write a function that returns all prime numbers up to and including n, using the Sieve of Eratosthenes.",
        c("""
        def primes_up_to(n):
            if n < 2:
                return []
            flags = [True] * (n + 1)
            flags[0] = flags[1] = False
            for i in range(2, int(n ** 0.5) + 1):
                if flags[i]:
                    for j in range(i * i, n + 1, i):
                        flags[j] = False
            return [i for i, is_p in enumerate(flags) if is_p]
     """),
        [
            "assert primes_up_to(20) == [2, 3, 5, 7, 11, 13, 17, 19]",
            "assert primes_up_to(1) == []",
            "assert len(primes_up_to(100)) == 25",
        ],
    ),
    (
        "digit_sum",
        "Write a function that returns the sum of the decimal digits of an integer; the sign of a negative number is ignored.",
        c("""
        def digit_sum(n):
            return sum(int(d) for d in str(abs(n)))
     """),
        ["assert digit_sum(1234) == 10", "assert digit_sum(-907) == 16", "assert digit_sum(0) == 0"],
    ),
    (
        "reverse_words",
        "Write a function that reverses the order of the words in a sentence. Words are separated by whitespace, and the result should use single spaces.",
        c("""
        def reverse_words(sentence):
            return " ".join(reversed(sentence.split()))
     """),
        [
            'assert reverse_words("data beats opinions") == "opinions beats data"',
            'assert reverse_words("  hello   world ") == "world hello"',
            'assert reverse_words("") == ""',
        ],
    ),
    (
        "remove_dupes",
        "Write a function that removes duplicate items from a list while keeping the first occurrence of each item in its original order.",
        c("""
        def remove_duplicates(items):
            seen = set()
            result = []
            for item in items:
                if item not in seen:
                    seen.add(item)
                    result.append(item)
            return result
     """),
        [
            "assert remove_duplicates([3, 1, 3, 2, 1]) == [3, 1, 2]",
            "assert remove_duplicates([]) == []",
            'assert remove_duplicates(["b", "a", "b"]) == ["b", "a"]',
        ],
    ),
    (
        "merge_sorted",
        "Write a function that merges two already sorted lists into one sorted list without calling sort() or sorted().",
        c("""
        def merge_sorted(a, b):
            i = j = 0
            merged = []
            while i < len(a) and j < len(b):
                if a[i] <= b[j]:
                    merged.append(a[i])
                    i += 1
                else:
                    merged.append(b[j])
                    j += 1
            merged.extend(a[i:])
            merged.extend(b[j:])
            return merged
     """),
        [
            "assert merge_sorted([1, 4, 9], [2, 3, 10]) == [1, 2, 3, 4, 9, 10]",
            "assert merge_sorted([], [5]) == [5]",
            "assert merge_sorted([1, 1], [1]) == [1, 1, 1]",
        ],
    ),
    (
        "binary_search",
        "Write a function that performs binary search on a sorted list and returns the index of the target, or -1 if the target is not present.",
        c("""
        def binary_search(items, target):
            lo, hi = 0, len(items) - 1
            while lo <= hi:
                mid = (lo + hi) // 2
                if items[mid] == target:
                    return mid
                if items[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid - 1
            return -1
     """),
        [
            "assert binary_search([1, 3, 5, 7, 9, 11], 7) == 3",
            "assert binary_search([1, 3, 5], 4) == -1",
            "assert binary_search([], 1) == -1",
        ],
    ),
    (
        "char_types",
        "Write a function that returns a tuple (letters, digits, others) counting the letters, digits and all other characters in a string.",
        c("""
        def count_char_types(s):
            letters = sum(ch.isalpha() for ch in s)
            digits = sum(ch.isdigit() for ch in s)
            return letters, digits, len(s) - letters - digits
     """),
        [
            'assert count_char_types("abc 123!") == (3, 3, 2)',
            'assert count_char_types("") == (0, 0, 0)',
            'assert count_char_types("R2-D2") == (2, 2, 1)',
        ],
    ),
    (
        "kadane",
        "Write a function that returns the largest sum of any non-empty contiguous sub-list of a list of integers.",
        c("""
        def max_subarray_sum(numbers):
            best = current = numbers[0]
            for n in numbers[1:]:
                current = max(n, current + n)
                best = max(best, current)
            return best
     """),
        [
            "assert max_subarray_sum([-2, 1, -3, 4, -1, 2, 1, -5, 4]) == 6",
            "assert max_subarray_sum([-3, -1, -2]) == -1",
            "assert max_subarray_sum([5]) == 5",
        ],
    ),
    (
        "rotate_right",
        "Write a function that rotates a list to the right by k positions; k may be larger than the length of the list.",
        c("""
        def rotate_right(items, k):
            if not items:
                return []
            k %= len(items)
            return items[-k:] + items[:-k] if k else list(items)
     """),
        [
            "assert rotate_right([1, 2, 3, 4, 5], 2) == [4, 5, 1, 2, 3]",
            "assert rotate_right([1, 2, 3], 4) == [3, 1, 2]",
            "assert rotate_right([], 3) == []",
        ],
    ),
    (
        "transpose",
        "Write a function that transposes a matrix given as a list of equally long rows.",
        c("""
        def transpose(matrix):
            return [list(row) for row in zip(*matrix)]
     """),
        [
            "assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]",
            "assert transpose([[7]]) == [[7]]",
            "assert transpose([]) == []",
        ],
    ),
    (
        "dot_product",
        "Write a function that returns the dot product of two vectors of equal length, and raises ValueError if the lengths differ.",
        c("""
        def dot_product(a, b):
            if len(a) != len(b):
                raise ValueError("vectors must have the same length")
            return sum(x * y for x, y in zip(a, b))
     """),
        [
            "assert dot_product([1, 2, 3], [4, 5, 6]) == 32",
            "assert dot_product([], []) == 0",
            "assert dot_product([2, -1], [3, 3]) == 3",
        ],
    ),
    (
        "anagram",
        "Write a function that checks whether two phrases are anagrams of each other, ignoring spaces and letter case.",
        c("""
        def are_anagrams(a, b):
            def normalise(s):
                return sorted(s.replace(" ", "").lower())
            return normalise(a) == normalise(b)
     """),
        [
            'assert are_anagrams("Dormitory", "dirty room") is True',
            'assert are_anagrams("listen", "silent") is True',
            'assert are_anagrams("apple", "paper") is False',
        ],
    ),
    (
        "group_anagrams",
        "Write a function that groups words that are anagrams of each other. Each group should be sorted alphabetically and the list of groups sorted by its first word.",
        c("""
        def group_anagrams(words):
            groups = {}
            for word in words:
                groups.setdefault("".join(sorted(word)), []).append(word)
            return sorted(sorted(g) for g in groups.values())
     """),
        [
            'assert group_anagrams(["eat", "tea", "tan", "ate", "nat", "bat"]) == [["ate", "eat", "tea"], ["bat"], ["nat", "tan"]]',
            "assert group_anagrams([]) == []",
            'assert group_anagrams(["abc"]) == [["abc"]]',
        ],
    ),
    (
        "parse_kv",
        'Write a function that parses a string like "name=Ada; age=36" into a dictionary of strings, trimming whitespace around keys and values and skipping empty parts.',
        c("""
        def parse_key_values(text):
            result = {}
            for part in text.split(";"):
                if "=" in part:
                    key, value = part.split("=", 1)
                    result[key.strip()] = value.strip()
            return result
     """),
        [
            'assert parse_key_values("name=Ada; age=36") == {"name": "Ada", "age": "36"}',
            'assert parse_key_values("a=1;;b = x=y ") == {"a": "1", "b": "x=y"}',
            'assert parse_key_values("") == {}',
        ],
    ),
    (
        "slugify",
        "Write a function that turns a title into a URL slug: lower-case, with every run of non-alphanumeric characters replaced by a single hyphen and no hyphens at either end.",
        c("""
        import re

        def slugify(title):
            return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
     """),
        [
            'assert slugify("Hello, World!") == "hello-world"',
            'assert slugify("  Data -- Curation 101 ") == "data-curation-101"',
            'assert slugify("***") == ""',
        ],
    ),
    (
        "camel_to_snake",
        'Write a function that converts a camelCase identifier such as "maxRetryCount" to snake_case.',
        c("""
        def camel_to_snake(name):
            out = []
            for ch in name:
                if ch.isupper():
                    if out:
                        out.append("_")
                    out.append(ch.lower())
                else:
                    out.append(ch)
            return "".join(out)
     """),
        [
            'assert camel_to_snake("maxRetryCount") == "max_retry_count"',
            'assert camel_to_snake("id") == "id"',
            'assert camel_to_snake("HttpServer") == "http_server"',
        ],
    ),
    (
        "snake_to_camel",
        'Write a function that converts a snake_case identifier such as "learning_rate_warmup" to lowerCamelCase.',
        c("""
        def snake_to_camel(name):
            first, *rest = name.split("_")
            return first + "".join(part.capitalize() for part in rest)
     """),
        [
            'assert snake_to_camel("learning_rate_warmup") == "learningRateWarmup"',
            'assert snake_to_camel("epochs") == "epochs"',
            'assert snake_to_camel("top_k") == "topK"',
        ],
    ),
    (
        "brackets",
        "Write a function that checks whether the brackets (), [] and {} in a string are balanced and correctly nested. Other characters are ignored.",
        c("""
        def brackets_balanced(s):
            pairs = {")": "(", "]": "[", "}": "{"}
            stack = []
            for ch in s:
                if ch in "([{":
                    stack.append(ch)
                elif ch in pairs:
                    if not stack or stack.pop() != pairs[ch]:
                        return False
            return not stack
     """),
        [
            'assert brackets_balanced("f(a[1], {b: 2})") is True',
            'assert brackets_balanced("(]") is False',
            'assert brackets_balanced("((") is False',
        ],
    ),
    (
        "roman_to_int",
        "Write a function that converts a Roman numeral (using subtractive notation, e.g. IV and CM) to an integer.",
        c("""
        def roman_to_int(numeral):
            values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
            total = 0
            for i, ch in enumerate(numeral):
                v = values[ch]
                if i + 1 < len(numeral) and values[numeral[i + 1]] > v:
                    total -= v
                else:
                    total += v
            return total
     """),
        [
            'assert roman_to_int("MCMXCIV") == 1994',
            'assert roman_to_int("XLII") == 42',
            'assert roman_to_int("III") == 3',
        ],
    ),
    (
        "int_to_roman",
        "Write a function that converts an integer between 1 and 3999 to a Roman numeral.",
        c("""
        def int_to_roman(n):
            table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                     (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
            out = []
            for value, symbol in table:
                while n >= value:
                    out.append(symbol)
                    n -= value
            return "".join(out)
     """),
        [
            'assert int_to_roman(2024) == "MMXXIV"',
            'assert int_to_roman(49) == "XLIX"',
            'assert int_to_roman(3999) == "MMMCMXCIX"',
        ],
    ),
    (
        "to_binary",
        "Write a function that returns the binary representation of a non-negative integer as a string, without using bin() or format().",
        c("""
        def to_binary(n):
            if n == 0:
                return "0"
            bits = []
            while n:
                bits.append(str(n % 2))
                n //= 2
            return "".join(reversed(bits))
     """),
        ['assert to_binary(10) == "1010"', 'assert to_binary(0) == "0"', 'assert to_binary(255) == "11111111"'],
    ),
    (
        "hamming",
        "Write a function that returns the Hamming distance between two strings of equal length (the number of positions where they differ).",
        c("""
        def hamming_distance(a, b):
            if len(a) != len(b):
                raise ValueError("strings must have equal length")
            return sum(x != y for x, y in zip(a, b))
     """),
        [
            'assert hamming_distance("karolin", "kathrin") == 3',
            'assert hamming_distance("", "") == 0',
            'assert hamming_distance("1011101", "1001001") == 2',
        ],
    ),
    (
        "common_prefix",
        "Write a function that returns the longest common prefix shared by all strings in a list (an empty string if there is none or the list is empty).",
        c("""
        def longest_common_prefix(words):
            if not words:
                return ""
            prefix = words[0]
            for word in words[1:]:
                while not word.startswith(prefix):
                    prefix = prefix[:-1]
            return prefix
     """),
        [
            'assert longest_common_prefix(["interview", "internet", "interval"]) == "inter"',
            'assert longest_common_prefix(["dog", "cat"]) == ""',
            'assert longest_common_prefix([]) == ""',
        ],
    ),
    (
        "most_common_char",
        "Write a function that returns the most frequent character in a non-empty string; if several characters tie, return the one that appears first.",
        c("""
        def most_common_char(s):
            counts = {}
            for ch in s:
                counts[ch] = counts.get(ch, 0) + 1
            best = max(counts.values())
            for ch in s:
                if counts[ch] == best:
                    return ch
     """),
        [
            'assert most_common_char("mississippi") == "i"',
            'assert most_common_char("abab") == "a"',
            'assert most_common_char("z") == "z"',
        ],
    ),
    (
        "median",
        "Write a function that returns the median of a non-empty list of numbers (the mean of the two middle values when the length is even).",
        c("""
        def median(numbers):
            ordered = sorted(numbers)
            mid = len(ordered) // 2
            if len(ordered) % 2:
                return ordered[mid]
            return (ordered[mid - 1] + ordered[mid]) / 2
     """),
        ["assert median([3, 1, 2]) == 2", "assert median([4, 1, 3, 2]) == 2.5", "assert median([7]) == 7"],
    ),
    (
        "moving_average",
        "Write a function that returns the simple moving averages of a list over a window of size k, one value per full window.",
        c("""
        def moving_average(values, k):
            return [sum(values[i:i + k]) / k for i in range(len(values) - k + 1)]
     """),
        [
            "assert moving_average([1, 2, 3, 4, 5], 3) == [2.0, 3.0, 4.0]",
            "assert moving_average([10, 20], 2) == [15.0]",
            "assert moving_average([1, 2], 3) == []",
        ],
    ),
    (
        "pairs_with_sum",
        "Write a function that returns all unique pairs (a, b) with a <= b from a list whose sum equals a target, as a sorted list of tuples.",
        c("""
        def pairs_with_sum(numbers, target):
            seen = set()
            pairs = set()
            for n in numbers:
                if target - n in seen:
                    pairs.add((min(n, target - n), max(n, target - n)))
                seen.add(n)
            return sorted(pairs)
     """),
        [
            "assert pairs_with_sum([1, 5, 3, 7, 4, 2], 8) == [(1, 7), (3, 5)]",
            "assert pairs_with_sum([4, 4], 8) == [(4, 4)]",
            "assert pairs_with_sum([1, 2], 10) == []",
        ],
    ),
    (
        "missing_number",
        "Given a list containing every integer from 1 to n except one, write a function that returns the missing number.",
        c("""
        def find_missing_number(numbers):
            n = len(numbers) + 1
            return n * (n + 1) // 2 - sum(numbers)
     """),
        [
            "assert find_missing_number([1, 2, 4, 5]) == 3",
            "assert find_missing_number([2]) == 1",
            "assert find_missing_number([1, 2, 3]) == 4",
        ],
    ),
    (
        "armstrong",
        "Write a function that checks whether a positive integer is an Armstrong number, i.e. equal to the sum of its digits each raised to the power of the number of digits.",
        c("""
        def is_armstrong(n):
            digits = str(n)
            return n == sum(int(d) ** len(digits) for d in digits)
     """),
        ["assert is_armstrong(153) is True", "assert is_armstrong(9474) is True", "assert is_armstrong(100) is False"],
    ),
    (
        "collatz",
        "Write a function that returns how many steps the Collatz process (halve even numbers, map odd n to 3n + 1) takes to reach 1 from a positive integer.",
        c("""
        def collatz_steps(n):
            steps = 0
            while n != 1:
                n = n // 2 if n % 2 == 0 else 3 * n + 1
                steps += 1
            return steps
     """),
        ["assert collatz_steps(1) == 0", "assert collatz_steps(6) == 8", "assert collatz_steps(27) == 111"],
    ),
    (
        "fibonacci",
        "Write a function that returns the n-th Fibonacci number, where fib(0) = 0 and fib(1) = 1, using iteration.",
        c("""
        def fib(n):
            a, b = 0, 1
            for _ in range(n):
                a, b = b, a + b
            return a
     """),
        ["assert fib(0) == 0", "assert fib(10) == 55", "assert fib(50) == 12586269025"],
    ),
    (
        "mask_email",
        'Write a function that masks the local part of an e-mail address, keeping its first and last character and replacing the rest with "*". Local parts of one or two characters are left unchanged.',
        c("""
        def mask_email(address):
            local, domain = address.split("@", 1)
            if len(local) <= 2:
                return address
            return local[0] + "*" * (len(local) - 2) + local[-1] + "@" + domain
     """),
        [
            'assert mask_email("john.doe@example.com") == "j******e@example.com"',
            'assert mask_email("al@example.org") == "al@example.org"',
            'assert mask_email("eve@x.io") == "e*e@x.io"',
        ],
    ),
    (
        "format_duration",
        'Write a function that formats a number of seconds as "H:MM:SS".',
        c("""
        def format_duration(seconds):
            hours, rest = divmod(seconds, 3600)
            minutes, secs = divmod(rest, 60)
            return f"{hours}:{minutes:02d}:{secs:02d}"
     """),
        [
            'assert format_duration(3725) == "1:02:05"',
            'assert format_duration(59) == "0:00:59"',
            'assert format_duration(90000) == "25:00:00"',
        ],
    ),
    (
        "parse_duration",
        'Write a function that parses a duration such as "2h 30m" or "45m" or "1h" into a total number of minutes.',
        c("""
        def duration_to_minutes(text):
            total = 0
            for part in text.split():
                value, unit = int(part[:-1]), part[-1]
                total += value * 60 if unit == "h" else value
            return total
     """),
        [
            'assert duration_to_minutes("2h 30m") == 150',
            'assert duration_to_minutes("45m") == 45',
            'assert duration_to_minutes("1h") == 60',
        ],
    ),
    (
        "isbn10",
        "Write a function that validates an ISBN-10 string (hyphens allowed; the last character may be X meaning 10).",
        c("""
        def is_valid_isbn10(isbn):
            chars = isbn.replace("-", "")
            if len(chars) != 10:
                return False
            total = 0
            for i, ch in enumerate(chars):
                if ch.isdigit():
                    value = int(ch)
                elif ch in "Xx" and i == 9:
                    value = 10
                else:
                    return False
                total += (10 - i) * value
            return total % 11 == 0
     """),
        [
            'assert is_valid_isbn10("0-306-40615-2") is True',
            'assert is_valid_isbn10("0-306-40615-3") is False',
            'assert is_valid_isbn10("0-8044-2957-X") is True',
        ],
    ),
    (
        "luhn",
        "Write a function that checks a card number string with the Luhn algorithm; spaces in the input should be ignored.",
        c("""
        def luhn_valid(number):
            digits = [int(d) for d in number.replace(" ", "")]
            total = 0
            for i, d in enumerate(reversed(digits)):
                if i % 2 == 1:
                    d *= 2
                    if d > 9:
                        d -= 9
                total += d
            return total % 10 == 0
     """),
        [
            'assert luhn_valid("4539 1488 0343 6467") is True',
            'assert luhn_valid("8273 1232 7352 0569") is False',
            'assert luhn_valid("79927398713") is True',
        ],
    ),
    (
        "caesar",
        "Write a function that applies a Caesar cipher with a given shift to a string, shifting letters and keeping their case; other characters stay the same.",
        c("""
        def caesar(text, shift):
            out = []
            for ch in text:
                if ch.isalpha() and ch.isascii():
                    base = ord("A") if ch.isupper() else ord("a")
                    out.append(chr((ord(ch) - base + shift) % 26 + base))
                else:
                    out.append(ch)
            return "".join(out)
     """),
        [
            'assert caesar("Hello, World!", 3) == "Khoor, Zruog!"',
            'assert caesar("xyz", 2) == "zab"',
            'assert caesar(caesar("Round trip", 11), -11) == "Round trip"',
        ],
    ),
    (
        "merge_counts",
        "Write a function that merges two dictionaries of counts, adding the values of keys that appear in both.",
        c("""
        def merge_counts(a, b):
            merged = dict(a)
            for key, value in b.items():
                merged[key] = merged.get(key, 0) + value
            return merged
     """),
        [
            'assert merge_counts({"x": 2, "y": 1}, {"y": 4, "z": 3}) == {"x": 2, "y": 5, "z": 3}',
            'assert merge_counts({}, {"a": 1}) == {"a": 1}',
            'assert merge_counts({"a": 1}, {}) == {"a": 1}',
        ],
    ),
    (
        "top_k",
        "Write a function that returns the k most frequent numbers in a list, ordered by descending frequency and, for equal frequencies, by ascending value.",
        c("""
        from collections import Counter

        def top_k_frequent(numbers, k):
            counts = Counter(numbers)
            ordered = sorted(counts, key=lambda n: (-counts[n], n))
            return ordered[:k]
     """),
        [
            "assert top_k_frequent([1, 1, 1, 2, 2, 3], 2) == [1, 2]",
            "assert top_k_frequent([5, 4, 4, 5, 6], 2) == [4, 5]",
            "assert top_k_frequent([], 3) == []",
        ],
    ),
    (
        "sorted_intersection",
        "Write a function that returns the sorted list of distinct values that appear in both of two lists.",
        c("""
        def common_values(a, b):
            return sorted(set(a) & set(b))
     """),
        [
            "assert common_values([3, 1, 2, 3], [3, 4, 1]) == [1, 3]",
            "assert common_values([], [1]) == []",
            'assert common_values(["b", "a"], ["a", "c", "b"]) == ["a", "b"]',
        ],
    ),
    (
        "compress_ranges",
        'Write a function that turns a sorted list of distinct integers into a compact range string, e.g. [1, 2, 3, 5, 7, 8] becomes "1-3,5,7-8".',
        c("""
        def compress_ranges(numbers):
            parts = []
            i = 0
            while i < len(numbers):
                j = i
                while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
                    j += 1
                parts.append(str(numbers[i]) if i == j else f"{numbers[i]}-{numbers[j]}")
                i = j + 1
            return ",".join(parts)
     """),
        [
            'assert compress_ranges([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8"',
            'assert compress_ranges([4]) == "4"',
            'assert compress_ranges([]) == ""',
        ],
    ),
    (
        "expand_ranges",
        'Write a function that expands a page-range string such as "1-3,5,8-9" into a list of integers.',
        c("""
        def expand_ranges(spec):
            pages = []
            for part in spec.split(","):
                part = part.strip()
                if not part:
                    continue
                if "-" in part:
                    start, end = part.split("-")
                    pages.extend(range(int(start), int(end) + 1))
                else:
                    pages.append(int(part))
            return pages
     """),
        [
            'assert expand_ranges("1-3,5,8-9") == [1, 2, 3, 5, 8, 9]',
            'assert expand_ranges("7") == [7]',
            'assert expand_ranges("") == []',
        ],
    ),
    (
        "islands",
        "Write a function that counts the islands in a grid of 0s and 1s, where an island is a group of 1s connected horizontally or vertically.",
        c("""
        def count_islands(grid):
            rows = len(grid)
            cols = len(grid[0]) if rows else 0
            seen = set()
            islands = 0
            for r in range(rows):
                for col in range(cols):
                    if grid[r][col] == 1 and (r, col) not in seen:
                        islands += 1
                        stack = [(r, col)]
                        seen.add((r, col))
                        while stack:
                            y, x = stack.pop()
                            for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                                ny, nx = y + dy, x + dx
                                if 0 <= ny < rows and 0 <= nx < cols and grid[ny][nx] == 1 and (ny, nx) not in seen:
                                    seen.add((ny, nx))
                                    stack.append((ny, nx))
            return islands
     """),
        [
            "assert count_islands([[1, 1, 0], [0, 1, 0], [1, 0, 1]]) == 3",
            "assert count_islands([[0, 0], [0, 0]]) == 0",
            "assert count_islands([]) == 0",
        ],
    ),
    (
        "diagonal_sum",
        "Write a function that returns the sum of both diagonals of a square matrix, counting the centre cell only once when the size is odd.",
        c("""
        def diagonal_sum(matrix):
            n = len(matrix)
            total = 0
            for i in range(n):
                total += matrix[i][i]
                if i != n - 1 - i:
                    total += matrix[i][n - 1 - i]
            return total
     """),
        [
            "assert diagonal_sum([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) == 25",
            "assert diagonal_sum([[1, 2], [3, 4]]) == 10",
            "assert diagonal_sum([[5]]) == 5",
        ],
    ),
    (
        "parse_int",
        'Write a function that converts a string of digits with an optional leading "+" or "-" and surrounding spaces into an integer, without calling int().',
        c("""
        def parse_int(text):
            text = text.strip()
            sign = 1
            if text and text[0] in "+-":
                sign = -1 if text[0] == "-" else 1
                text = text[1:]
            value = 0
            for ch in text:
                value = value * 10 + (ord(ch) - ord("0"))
            return sign * value
     """),
        ['assert parse_int(" 42 ") == 42', 'assert parse_int("-907") == -907', 'assert parse_int("+0") == 0'],
    ),
    (
        "distance",
        "Write a function that returns the Euclidean distance between two points (x1, y1) and (x2, y2), rounded to two decimal places.",
        c("""
        import math

        def distance(p, q):
            return round(math.hypot(q[0] - p[0], q[1] - p[1]), 2)
     """),
        [
            "assert distance((0, 0), (3, 4)) == 5.0",
            "assert distance((1, 1), (2, 2)) == 1.41",
            "assert distance((-1, 5), (-1, 5)) == 0.0",
        ],
    ),
    (
        "letter_grade",
        "Write a function that maps a score from 0 to 100 to a letter grade: A for 90 and above, B for 80-89, C for 70-79, D for 60-69 and F below 60.",
        c("""
        def letter_grade(score):
            for threshold, grade in ((90, "A"), (80, "B"), (70, "C"), (60, "D")):
                if score >= threshold:
                    return grade
            return "F"
     """),
        ['assert letter_grade(95) == "A"', 'assert letter_grade(80) == "B"', 'assert letter_grade(42) == "F"'],
    ),
    (
        "sort_by_length",
        "Write a function that sorts words by length, breaking ties alphabetically.",
        c("""
        def sort_by_length(words):
            return sorted(words, key=lambda w: (len(w), w))
     """),
        [
            'assert sort_by_length(["pear", "fig", "apple", "kiwi"]) == ["fig", "kiwi", "pear", "apple"]',
            "assert sort_by_length([]) == []",
            'assert sort_by_length(["bb", "a", "ab"]) == ["a", "ab", "bb"]',
        ],
    ),
    (
        "transactions",
        'Write a function that applies a list of ("deposit", amount) and ("withdraw", amount) transactions to a starting balance and returns the final balance. Withdrawals larger than the current balance are skipped.',
        c("""
        def apply_transactions(balance, transactions):
            for kind, amount in transactions:
                if kind == "deposit":
                    balance += amount
                elif kind == "withdraw" and amount <= balance:
                    balance -= amount
            return balance
     """),
        [
            'assert apply_transactions(100, [("deposit", 50), ("withdraw", 30)]) == 120',
            'assert apply_transactions(10, [("withdraw", 20), ("deposit", 5)]) == 15',
            "assert apply_transactions(0, []) == 0",
        ],
    ),
    (
        "interleave",
        "Write a function that interleaves two lists element by element; any leftover elements from the longer list are appended at the end.",
        c("""
        def interleave(a, b):
            result = []
            for i in range(max(len(a), len(b))):
                if i < len(a):
                    result.append(a[i])
                if i < len(b):
                    result.append(b[i])
            return result
     """),
        [
            "assert interleave([1, 3, 5], [2, 4]) == [1, 2, 3, 4, 5]",
            'assert interleave([], ["x"]) == ["x"]',
            'assert interleave(["a"], ["b", "c", "d"]) == ["a", "b", "c", "d"]',
        ],
    ),
    (
        "count_overlapping",
        'Write a function that counts how many times a substring occurs in a string, counting overlapping occurrences (so "aa" occurs twice in "aaa").',
        c("""
        def count_overlapping(text, sub):
            count = 0
            start = 0
            while True:
                i = text.find(sub, start)
                if i == -1:
                    return count
                count += 1
                start = i + 1
     """),
        [
            'assert count_overlapping("aaa", "aa") == 2',
            'assert count_overlapping("banana", "ana") == 2',
            'assert count_overlapping("abc", "d") == 0',
        ],
    ),
    (
        "longest_word",
        "Write a function that returns the longest word in a sentence; if there is a tie, return the first of the longest words.",
        c("""
        def longest_word(sentence):
            best = ""
            for word in sentence.split():
                if len(word) > len(best):
                    best = word
            return best
     """),
        [
            'assert longest_word("curate your data carefully") == "carefully"',
            'assert longest_word("one two six") == "one"',
            'assert longest_word("") == ""',
        ],
    ),
    (
        "acronym",
        'Write a function that builds an upper-case acronym from a phrase, using the first letter of each word; hyphens also separate words ("low-rank adaptation" gives "LRA").',
        c("""
        def acronym(phrase):
            words = phrase.replace("-", " ").split()
            return "".join(word[0].upper() for word in words)
     """),
        [
            'assert acronym("portable network graphics") == "PNG"',
            'assert acronym("low-rank adaptation") == "LRA"',
            'assert acronym("") == ""',
        ],
    ),
    (
        "dedupe_whitespace",
        "Write a function that collapses every run of whitespace in a string into a single space and strips the ends.",
        c("""
        def normalise_whitespace(text):
            return " ".join(text.split())
     """),
        [
            'assert normalise_whitespace("  too   many\\tspaces\\n") == "too many spaces"',
            'assert normalise_whitespace("") == ""',
            'assert normalise_whitespace("one") == "one"',
        ],
    ),
    (
        "truncate_text",
        'Write a function that shortens a text to at most n characters, ending with "..." when it had to be cut (the "..." counts towards n).',
        c("""
        def truncate(text, n):
            if len(text) <= n:
                return text
            return text[:max(n - 3, 0)] + "..."
     """),
        [
            'assert truncate("short", 10) == "short"',
            'assert truncate("instruction tuning", 10) == "instruc..."',
            'assert truncate("abcdef", 6) == "abcdef"',
        ],
    ),
    (
        "histogram",
        'Write a function that turns a dictionary of label counts into a list of text bars like "cat | ###", with labels sorted alphabetically.',
        c("""
        def text_histogram(counts):
            return [f"{label} | {'#' * counts[label]}" for label in sorted(counts)]
     """),
        [
            'assert text_histogram({"dog": 2, "cat": 3}) == ["cat | ###", "dog | ##"]',
            "assert text_histogram({}) == []",
            'assert text_histogram({"x": 0}) == ["x | "]',
        ],
    ),
]

# Weak code samples.  (key, kind, text, code, tests, reference solution, note)
WEAK = [
    (
        "wk_sum_evens",
        "wrong_answer",
        "Write a function that returns the sum of the even numbers in a list.",
        c("""
        def sum_of_evens(numbers):
            return sum(n for n in numbers if n % 2 == 1)
     """),
        [
            "assert sum_of_evens([1, 2, 3, 4]) == 6",
            "assert sum_of_evens([]) == 0",
            "assert sum_of_evens([7, 10, -2]) == 8",
        ],
        c("""
        def sum_of_evens(numbers):
            return sum(n for n in numbers if n % 2 == 0)
     """),
        "sums the odd numbers instead of the even ones",
    ),
    (
        "wk_count_words",
        "wrong_answer",
        "Write a function that counts the words in a string, where words are separated by any amount of whitespace.",
        c("""
        def count_words(text):
            return len(text.split(" "))
     """),
        [
            'assert count_words("hello world") == 2',
            'assert count_words("  spaced   out  ") == 2',
            'assert count_words("") == 0',
        ],
        c("""
        def count_words(text):
            return len(text.split())
     """),
        "splits on single spaces, so runs of spaces and the empty string are miscounted",
    ),
    (
        "wk_last_n",
        "wrong_answer",
        "Write a function that returns the last n characters of a string (the whole string if it is shorter than n).",
        c("""
        def last_chars(s, n):
            return s[-n - 1:]
     """),
        [
            'assert last_chars("workbench", 5) == "bench"',
            'assert last_chars("ab", 5) == "ab"',
            'assert last_chars("data", 1) == "a"',
        ],
        c("""
        def last_chars(s, n):
            return s[-n:] if n > 0 else ""
     """),
        "off-by-one slice returns one character too many",
    ),
    (
        "wk_average",
        "empty_answer",
        "Write a function that returns the average of a non-empty list of numbers.",
        "",
        ["assert average([2, 4, 6]) == 4", "assert average([5]) == 5", "assert average([1, 2]) == 1.5"],
        c("""
        def average(numbers):
            return sum(numbers) / len(numbers)
     """),
        "code is an empty string",
    ),
    (
        "wk_max_key",
        "truncated_answer",
        "Write a function that returns the key with the largest value in a non-empty dictionary.",
        "def key_of_max(d):\n    best_key = None\n    for key, value in d.items():\n        if best_key is None or value > d[",
        [
            'assert key_of_max({"a": 3, "b": 7, "c": 5}) == "b"',
            'assert key_of_max({"only": 0}) == "only"',
            'assert key_of_max({"x": -1, "y": -5}) == "x"',
        ],
        c("""
        def key_of_max(d):
            return max(d, key=d.get)
     """),
        "code stops in the middle of an expression",
    ),
    (
        "wk_initials",
        "refusal",
        'Write a function that returns the initials of a full name in upper case, e.g. "ada lovelace" gives "AL".',
        "I'm sorry, I can't help with that.",
        [
            'assert initials("ada lovelace") == "AL"',
            'assert initials("Grace Brewster Hopper") == "GBH"',
            'assert initials("x") == "X"',
        ],
        c("""
        def initials(name):
            return "".join(part[0].upper() for part in name.split())
     """),
        "refuses a harmless request",
    ),
    (
        "wk_reverse_each",
        "unrelated_answer",
        "Write a function that reverses each word in a sentence but keeps the words in their original order.",
        c("""
        def factorial(n):
            result = 1
            for i in range(2, n + 1):
                result *= i
            return result
     """),
        [
            'assert reverse_each_word("hello world") == "olleh dlrow"',
            'assert reverse_each_word("a bc") == "a cb"',
            'assert reverse_each_word("") == ""',
        ],
        c("""
        def reverse_each_word(sentence):
            return " ".join(word[::-1] for word in sentence.split())
     """),
        "computes a factorial instead of reversing words",
    ),
    (
        "wk_km_to_miles",
        "repetitive",
        "Write a function that converts a list of distances in kilometres to miles, rounded to one decimal place (1 km = 0.621371 miles).",
        "# Convert kilometres to miles.\n" * 8,
        [
            "assert km_to_miles([10, 42.195]) == [6.2, 26.2]",
            "assert km_to_miles([]) == []",
            "assert km_to_miles([1]) == [0.6]",
        ],
        c("""
        def km_to_miles(distances):
            return [round(d * 0.621371, 1) for d in distances]
     """),
        "the same comment line repeated eight times, no implementation",
    ),
]

# Near duplicates: (key, original key, reworded text, code, tests)
NEAR_DUPLICATES = [
    (
        "nd_palindrome",
        "palindrome",
        "Write a function to check if a string is a palindrome, ignoring letter case, spaces and punctuation.",
        c("""
        def is_palindrome(text):
            chars = [ch.lower() for ch in text if ch.isalnum()]
            return chars == chars[::-1]
     """),
        [
            'assert is_palindrome("A man, a plan, a canal: Panama") is True',
            'assert is_palindrome("Never odd or even") is True',
            'assert is_palindrome("Workbench") is False',
        ],
    ),
    (
        "nd_slugify",
        "slugify",
        "Write a function that converts a title into a URL slug: lower case, every run of non-alphanumeric characters replaced by one hyphen, and no hyphens at the start or end.",
        c("""
        import re

        def slugify(title):
            return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
     """),
        [
            'assert slugify("Hello, World!") == "hello-world"',
            'assert slugify("  Data -- Curation 101 ") == "data-curation-101"',
            'assert slugify("***") == ""',
        ],
    ),
]

EVAL = [
    (
        "ev_isogram",
        "Write a function that checks whether a word is an isogram (no letter repeats, ignoring case, hyphens and spaces).",
        c("""
        def is_isogram(word):
            letters = [ch.lower() for ch in word if ch.isalpha()]
            return len(letters) == len(set(letters))
     """),
        [
            'assert is_isogram("lumberjacks") is True',
            'assert is_isogram("Alphabet") is False',
            'assert is_isogram("six-year-old") is True',
        ],
    ),
    (
        "ev_pig_latin",
        'Write a function that translates a lower-case word to Pig Latin: words starting with a vowel get "way" appended; otherwise the leading consonants move to the end followed by "ay".',
        c("""
        def pig_latin(word):
            vowels = "aeiou"
            if word[0] in vowels:
                return word + "way"
            for i, ch in enumerate(word):
                if ch in vowels:
                    return word[i:] + word[:i] + "ay"
            return word + "ay"
     """),
        [
            'assert pig_latin("apple") == "appleway"',
            'assert pig_latin("string") == "ingstray"',
            'assert pig_latin("hello") == "ellohay"',
        ],
    ),
    (
        "ev_clamp",
        "Write a function that clamps a number to the closed interval [low, high].",
        c("""
        def clamp(x, low, high):
            return max(low, min(x, high))
     """),
        ["assert clamp(5, 0, 10) == 5", "assert clamp(-3, 0, 10) == 0", "assert clamp(42, 0, 10) == 10"],
    ),
    (
        "ev_even_odd",
        "Write a function that returns a tuple (number of even values, number of odd values) for a list of integers.",
        c("""
        def count_even_odd(numbers):
            evens = sum(1 for n in numbers if n % 2 == 0)
            return evens, len(numbers) - evens
     """),
        [
            "assert count_even_odd([1, 2, 3, 4, 5]) == (2, 3)",
            "assert count_even_odd([]) == (0, 0)",
            "assert count_even_odd([-2, 0]) == (2, 0)",
        ],
    ),
    (
        "ev_sentence_case",
        "Write a function that converts a string to sentence case: the first character upper case and all other characters lower case.",
        c("""
        def sentence_case(text):
            return text[:1].upper() + text[1:].lower()
     """),
        [
            'assert sentence_case("hELLO THERE") == "Hello there"',
            'assert sentence_case("") == ""',
            'assert sentence_case("x") == "X"',
        ],
    ),
    (
        "ev_product",
        "Write a function that returns the product of all numbers in a list (1 for an empty list).",
        c("""
        def product(numbers):
            result = 1
            for n in numbers:
                result *= n
            return result
     """),
        ["assert product([2, 3, 4]) == 24", "assert product([]) == 1", "assert product([5, 0, 7]) == 0"],
    ),
    (
        "ev_spread",
        "Write a function that returns the difference between the largest and smallest values in a non-empty list.",
        c("""
        def spread(values):
            return max(values) - min(values)
     """),
        ["assert spread([3, 9, 1, 4]) == 8", "assert spread([7]) == 0", "assert spread([-5, 5]) == 10"],
    ),
    (
        "ev_remove_vowels",
        "Write a function that removes all vowels (a, e, i, o, u in either case) from a string.",
        c("""
        def remove_vowels(text):
            return "".join(ch for ch in text if ch.lower() not in "aeiou")
     """),
        [
            'assert remove_vowels("Workbench") == "Wrkbnch"',
            'assert remove_vowels("AEIOU") == ""',
            'assert remove_vowels("sky") == "sky"',
        ],
    ),
    (
        "ev_nth_prime",
        "Write a function that returns the n-th prime number, counting from nth_prime(1) == 2.",
        c("""
        def nth_prime(n):
            count, candidate = 0, 1
            while count < n:
                candidate += 1
                if all(candidate % d for d in range(2, int(candidate ** 0.5) + 1)):
                    count += 1
            return candidate
     """),
        ["assert nth_prime(1) == 2", "assert nth_prime(6) == 13", "assert nth_prime(100) == 541"],
    ),
    (
        "ev_digital_root",
        "Write a function that returns the digital root of a non-negative integer (repeatedly sum the digits until one digit remains).",
        c("""
        def digital_root(n):
            while n >= 10:
                n = sum(int(d) for d in str(n))
            return n
     """),
        ["assert digital_root(16) == 7", "assert digital_root(942) == 6", "assert digital_root(0) == 0"],
    ),
    (
        "ev_pangram",
        "Write a function that checks whether a sentence is a pangram, i.e. uses every letter of the English alphabet at least once.",
        c("""
        import string

        def is_pangram(sentence):
            return set(string.ascii_lowercase) <= set(sentence.lower())
     """),
        [
            'assert is_pangram("The quick brown fox jumps over the lazy dog") is True',
            'assert is_pangram("Hello world") is False',
            'assert is_pangram("") is False',
        ],
    ),
    (
        "ev_cumulative_sum",
        "Write a function that returns the running totals of a list of numbers.",
        c("""
        def cumulative_sum(numbers):
            totals = []
            running = 0
            for n in numbers:
                running += n
                totals.append(running)
            return totals
     """),
        [
            "assert cumulative_sum([1, 2, 3, 4]) == [1, 3, 6, 10]",
            "assert cumulative_sum([]) == []",
            "assert cumulative_sum([5, -5, 2]) == [5, 0, 2]",
        ],
    ),
    (
        "ev_char_positions",
        "Write a function that returns the list of indexes at which a given character occurs in a string.",
        c("""
        def char_positions(s, ch):
            return [i for i, c in enumerate(s) if c == ch]
     """),
        [
            'assert char_positions("banana", "a") == [1, 3, 5]',
            'assert char_positions("banana", "z") == []',
            'assert char_positions("", "a") == []',
        ],
    ),
    (
        "ev_reverse_number",
        "Write a function that reverses the digits of an integer, keeping its sign (e.g. -120 becomes -21).",
        c("""
        def reverse_digits(n):
            sign = -1 if n < 0 else 1
            return sign * int(str(abs(n))[::-1])
     """),
        [
            "assert reverse_digits(12345) == 54321",
            "assert reverse_digits(-120) == -21",
            "assert reverse_digits(0) == 0",
        ],
    ),
    (
        "ev_spiral",
        "Write a function that returns the elements of a matrix in clockwise spiral order, starting at the top-left corner.",
        c("""
        def spiral_order(matrix):
            result = []
            rows = [list(r) for r in matrix]
            while rows:
                result.extend(rows.pop(0))
                rows = [list(r) for r in zip(*rows)][::-1]
            return result
     """),
        [
            "assert spiral_order([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) == [1, 2, 3, 6, 9, 8, 7, 4, 5]",
            "assert spiral_order([[1, 2], [3, 4], [5, 6]]) == [1, 2, 4, 6, 5, 3]",
            "assert spiral_order([]) == []",
        ],
    ),
    (
        "ev_kebab",
        'Write a function that converts a phrase to kebab-case: lower-case words joined by hyphens, e.g. "Learning Rate Schedule" gives "learning-rate-schedule".',
        c("""
        def kebab_case(phrase):
            return "-".join(word.lower() for word in phrase.split())
     """),
        [
            'assert kebab_case("Learning Rate Schedule") == "learning-rate-schedule"',
            'assert kebab_case("one") == "one"',
            'assert kebab_case("  Mixed   CASE words ") == "mixed-case-words"',
        ],
    ),
    (
        "ev_word_lengths",
        "Write a function that returns a dictionary mapping each distinct word of a sentence to its length.",
        c("""
        def word_lengths(sentence):
            return {word: len(word) for word in sentence.split()}
     """),
        [
            'assert word_lengths("to be or not") == {"to": 2, "be": 2, "or": 2, "not": 3}',
            'assert word_lengths("") == {}',
            'assert word_lengths("hi hi") == {"hi": 2}',
        ],
    ),
    (
        "ev_subsequence",
        "Write a function that checks whether string a is a subsequence of string b (its characters appear in b in the same order, not necessarily next to each other).",
        c("""
        def is_subsequence(a, b):
            it = iter(b)
            return all(ch in it for ch in a)
     """),
        [
            'assert is_subsequence("ace", "abcde") is True',
            'assert is_subsequence("aec", "abcde") is False',
            'assert is_subsequence("", "xyz") is True',
        ],
    ),
    (
        "ev_pascal",
        "Write a function that returns row n of Pascal's triangle, where row 0 is [1].",
        c("""
        def pascal_row(n):
            row = [1]
            for _ in range(n):
                row = [1] + [row[i] + row[i + 1] for i in range(len(row) - 1)] + [1]
            return row
     """),
        ["assert pascal_row(0) == [1]", "assert pascal_row(4) == [1, 4, 6, 4, 1]", "assert pascal_row(1) == [1, 1]"],
    ),
    (
        "ev_hhmm",
        'Write a function that formats a number of minutes as a 24-hour clock time "HH:MM", wrapping around after midnight.',
        c("""
        def minutes_to_clock(minutes):
            minutes %= 24 * 60
            return f"{minutes // 60:02d}:{minutes % 60:02d}"
     """),
        [
            'assert minutes_to_clock(125) == "02:05"',
            'assert minutes_to_clock(1439) == "23:59"',
            'assert minutes_to_clock(1500) == "01:00"',
        ],
    ),
    (
        "ev_hex_color",
        'Write a function that checks whether a string is a valid hex colour of the form "#RRGGBB" (digits 0-9 and letters a-f in either case).',
        c("""
        def is_hex_color(s):
            return len(s) == 7 and s[0] == "#" and all(ch in "0123456789abcdefABCDEF" for ch in s[1:])
     """),
        [
            'assert is_hex_color("#1a2B3c") is True',
            'assert is_hex_color("#12345") is False',
            'assert is_hex_color("123456#") is False',
        ],
    ),
    (
        "ev_zip_dict",
        "Write a function that builds a dictionary from a list of keys and a list of values; extra keys get the value None.",
        c("""
        def zip_to_dict(keys, values):
            return {key: values[i] if i < len(values) else None for i, key in enumerate(keys)}
     """),
        [
            'assert zip_to_dict(["a", "b"], [1, 2]) == {"a": 1, "b": 2}',
            'assert zip_to_dict(["a", "b"], [1]) == {"a": 1, "b": None}',
            "assert zip_to_dict([], [1, 2]) == {}",
        ],
    ),
    (
        "ev_split_evenly",
        "Write a function that splits a whole number total into a given number of parts that differ by at most one, larger parts first.",
        c("""
        def split_evenly(total, parts):
            base, extra = divmod(total, parts)
            return [base + 1] * extra + [base] * (parts - extra)
     """),
        [
            "assert split_evenly(10, 3) == [4, 3, 3]",
            "assert split_evenly(9, 3) == [3, 3, 3]",
            "assert split_evenly(2, 4) == [1, 1, 0, 0]",
        ],
    ),
    (
        "ev_longest_run",
        "Write a function that returns the length of the longest run of identical consecutive characters in a string.",
        c("""
        def longest_run(s):
            best = current = 0
            previous = None
            for ch in s:
                current = current + 1 if ch == previous else 1
                previous = ch
                best = max(best, current)
            return best
     """),
        ['assert longest_run("aabbbcc") == 3', 'assert longest_run("") == 0', 'assert longest_run("abc") == 1'],
    ),
    (
        "ev_max_profit",
        "Given a list of daily prices, write a function that returns the largest profit from buying on one day and selling on a later day (0 if no profit is possible).",
        c("""
        def max_profit(prices):
            best = 0
            lowest = None
            for price in prices:
                if lowest is None or price < lowest:
                    lowest = price
                else:
                    best = max(best, price - lowest)
            return best
     """),
        [
            "assert max_profit([7, 1, 5, 3, 6, 4]) == 5",
            "assert max_profit([7, 6, 4, 3, 1]) == 0",
            "assert max_profit([]) == 0",
        ],
    ),
]
