// Turns the C++ snippets of README.md into a GoogleTest file, so the README cannot rot.
//
//   readme_extract README.md test_readme.cpp
//
// Every ```cpp block becomes part of one test per "## " section (the section's snippets run in
// order, in one scope, so later ones can use what earlier ones made). A ```text block right after
// a ```cpp block is what that snippet must print. ```cpp mpi marks a snippet that needs
// ag::distributed (skipped in a build without MPI); a block of any language marked source=PATH
// (```cpp source=PATH, ```cmake source=PATH) is a quotation of a file of the project, which must
// appear in that file word for word. The one ```cpp prelude block holds the lines the README says
// every snippet assumes (its includes and namespace aliases): they open the generated file, in
// place of anything of the test's own.

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Snippet {
  std::size_t line;
  std::string code, expected;
  bool has_expected = false;
  bool mpi = false;
  std::string source;  // for a quotation: the file it quotes
};

struct Section {
  std::string title;
  std::vector<Snippet> snippets;
};

std::string test_name(const std::string& title, std::size_t index) {
  std::string name;
  bool upper = true;
  for (char c : title) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      name += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
      upper = false;
    } else {
      upper = true;
    }
  }
  return "S" + std::to_string(index) + "_" + (name.empty() ? "Untitled" : name);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: readme_extract README.md out.cpp\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "readme_extract: cannot read " << argv[1] << "\n";
    return 1;
  }
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);

  std::vector<Section> sections{{"Preamble", {}}};
  std::string prelude;
  std::size_t preludes = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::size_t source_at = lines[i].rfind("```", 0) == 0 ? lines[i].find(" source=") : std::string::npos;
    if (lines[i].rfind("## ", 0) == 0) {
      sections.push_back({lines[i].substr(3), {}});
    } else if (lines[i] == "```cpp prelude") {
      ++preludes;
      prelude = "#line " + std::to_string(i + 2) + " \"README.md\"\n";
      for (++i; i < lines.size() && lines[i] != "```"; ++i) prelude += lines[i] + "\n";
    } else if (lines[i].rfind("```cpp", 0) == 0 || source_at != std::string::npos) {
      Snippet s{i + 2, "", ""};
      std::string info = lines[i].substr(3);  // "cpp mpi", "cmake source=PATH"...
      s.mpi = info.find(" mpi") != std::string::npos;
      if (source_at != std::string::npos) s.source = lines[i].substr(source_at + 8);
      for (++i; i < lines.size() && lines[i] != "```"; ++i) s.code += lines[i] + "\n";
      std::size_t j = i + 1;
      while (j < lines.size() && lines[j].empty()) ++j;
      if (j < lines.size() && lines[j] == "```text") {
        s.has_expected = true;
        for (++j; j < lines.size() && lines[j] != "```"; ++j) s.expected += lines[j] + "\n";
        i = j;
      }
      sections.back().snippets.push_back(s);
    }
  }

  if (preludes != 1) {
    std::cerr << "readme_extract: " << argv[1] << " has " << preludes
              << " ```cpp prelude blocks; it needs one, the lines every snippet assumes\n";
    return 1;
  }

  std::ostringstream out;
  out << "// Generated from README.md by tests/readme_extract.cpp: every C++ snippet of the README, run,\n"
         "// with its printed output compared to the README's.\n\n"
         "// The README's prelude: what every snippet assumes.\n"
      << prelude
      << "\n// The test's own.\n"
         "#include <gtest/gtest.h>\n#include <unistd.h>\n\n#include <cstdio>\n#include <cstdlib>\n\n"
         "#include <fstream>\n#include <sstream>\n\n#ifdef AG_WITH_MPI\n#include <ag/distributed/distributed.h>  // the MPI section says so\n#endif\n\n"
         "/// Runs each section in a fresh folder: snippets write files (model.ag, run.ckpt...).\n"
         "class Readme : public ::testing::Test {\n protected:\n"
         "  void SetUp() override {\n    char tmpl[] = \"/tmp/ag_readme_XXXXXX\";\n"
         "    ASSERT_NE(::mkdtemp(tmpl), nullptr);\n    dir_ = tmpl;\n    ASSERT_EQ(::chdir(dir_.c_str()), 0);\n  }\n"
         "  void TearDown() override {\n    if (!dir_.empty()) std::system((\"rm -rf '\" + dir_ + \"'\").c_str());\n  }\n"
         "  std::string dir_;\n};\n";
  std::size_t index = 0;
  for (const Section& sec : sections) {
    if (sec.snippets.empty()) continue;
    out << "\nTEST_F(Readme, " << test_name(sec.title, ++index) << ") {\n";
    for (const Snippet& s : sec.snippets) {
      if (!s.source.empty()) {  // a quotation: it must stand in the file as it stands here
        out << "  {\n    std::ifstream in(std::string(AG_SOURCE_DIR) + \"/" << s.source << "\");\n"
            << "    std::stringstream file;\n    file << in.rdbuf();\n"
            << "    EXPECT_NE(file.str().find(R\"ag_readme(" << s.code << ")ag_readme\"), std::string::npos)\n"
            << "        << \"README.md line " << s.line << " no longer quotes " << s.source << "\";\n  }\n";
        continue;
      }
      if (s.mpi) out << "#ifdef AG_WITH_MPI\n";
      out << "  ::testing::internal::CaptureStdout();\n";
      out << "#line " << s.line << " \"README.md\"\n" << s.code;
      out << "  std::cout.flush();\n  std::fflush(stdout);\n";
      out << "  {\n    std::string printed = ::testing::internal::GetCapturedStdout();\n";
      if (s.has_expected)
        out << "    EXPECT_EQ(printed, R\"ag_readme(" << s.expected << ")ag_readme\") << \"README.md line " << s.line
            << "\";\n";
      out << "  }\n";
      if (s.mpi) out << "#else\n  GTEST_SKIP() << \"built without MPI\";\n#endif\n";
    }
    out << "}\n";
  }
  std::ofstream(argv[2]) << out.str();
  return 0;
}
