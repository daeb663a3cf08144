using System.Collections.Generic;
using Inworld;
using Inworld.Unity;
using UnityEngine;

/// An editor-free chat: add this component to an empty GameObject in any
/// scene and press Play. It builds what it needs in code (the character on
/// the embedded local engine, its voice, an immediate-mode UI) and talks to
/// Marta, the innkeeper of the demo tavern. Her face shows as a debug view
/// of the 52 ARKit blendshape weights (text bars): a game with a face mesh
/// sets InworldFace's renderer instead.
public class ChatSample : MonoBehaviour
{
    private const int FaceColumns = 4;
    private const int BarLength = 12;

    private InworldCharacter character;
    private InworldFace face;
    private readonly System.Text.StringBuilder bars = new System.Text.StringBuilder();
    private readonly List<string> lines = new List<string>();
    private string input = "";
    private bool waiting;

    private void Awake()
    {
        gameObject.SetActive(false); // configure the components before OnEnable runs
        character = gameObject.AddComponent<InworldCharacter>();
        gameObject.AddComponent<AudioSource>();
        gameObject.AddComponent<InworldVoice>();
        face = gameObject.AddComponent<InworldFace>();
        character.onText.AddListener((speaker, text, final) => { if (final) lines.Add(text); });
        character.onEmotion.AddListener((behavior, strength) => lines.Add("  (" + behavior + ", " + strength + ")"));
        character.onTrigger.AddListener(name => lines.Add("  [" + name + "]"));
        character.onNarratedAction.AddListener(what => lines.Add("  *" + what + "*"));
        character.onInteractionEnd.AddListener(id => waiting = false);
        character.onError.AddListener(message => { lines.Add("! " + message); waiting = false; });
        gameObject.SetActive(true);
    }

    private void OnGUI()
    {
        GUILayout.Label(character.IsReady ? "Talking to the tavern (type and press Send)" : "Connecting...");
        foreach (var line in lines) GUILayout.Label(line);
        input = GUILayout.TextField(input);
        if (GUILayout.Button("Send") && !waiting && input.Length > 0 && character.Say(input))
        {
            lines.Add("> " + input);
            input = "";
            waiting = true;
        }
        ShowFace();
    }

    /// Four weights a line: "jawOpen  ######......".
    private void ShowFace()
    {
        var weights = face.Weights;
        for (int row = 0; row * FaceColumns < weights.Length; row++)
        {
            bars.Length = 0;
            for (int i = row * FaceColumns; i < (row + 1) * FaceColumns && i < weights.Length; i++)
            {
                int filled = (int)(weights[i] * BarLength + 0.5f);
                bars.Append(InworldPlayback.BlendshapeName(i).PadRight(20));
                bars.Append('#', filled).Append('.', BarLength - filled).Append("   ");
            }
            GUILayout.Label(bars.ToString());
        }
    }
}
